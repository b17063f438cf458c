//! Per-user quotas: uploads in flight, bytes uploaded per day, total storage. Admins are
//! exempt. A refused create answers `403 quota_exceeded` with a message naming the limit.

use vodnest_core::videos::Usage;

const GIB: i64 = 1024 * 1024 * 1024;

/// The limits, each a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args, serde::Serialize, utoipa::ToSchema)]
pub struct Quotas {
    /// Uploads a user may have started and not completed.
    #[arg(long, env = "QUOTA_UPLOADS_IN_FLIGHT", default_value_t = 10)]
    pub uploads_in_flight: i64,
    /// Bytes a user may upload in any 24 hours.
    #[arg(long, env = "QUOTA_BYTES_PER_DAY", default_value_t = 200 * GIB)]
    pub bytes_per_day: i64,
    /// Bytes of videos a user may keep.
    #[arg(long, env = "QUOTA_STORAGE_BYTES", default_value_t = 2048 * GIB)]
    pub storage_bytes: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            uploads_in_flight: 10,
            bytes_per_day: 200 * GIB,
            storage_bytes: 2048 * GIB,
        }
    }
}

impl Quotas {
    /// Whether a user with `usage` may start an upload of `size_bytes`; the refusal says which
    /// limit it would cross.
    pub fn admit(&self, usage: &Usage, size_bytes: i64) -> Result<(), String> {
        if usage.uploads_in_flight >= self.uploads_in_flight {
            return Err(format!(
                "you have {} uploads in progress, the most allowed; finish or cancel one first",
                usage.uploads_in_flight
            ));
        }
        self.admit_bytes(usage, size_bytes)
    }

    /// The byte limits alone: what a growing upload, whose size is known only when it is
    /// completed, is checked against then (its `usage` counts it as 0 bytes until then).
    pub fn admit_bytes(&self, usage: &Usage, size_bytes: i64) -> Result<(), String> {
        if usage.bytes_last_day.saturating_add(size_bytes) > self.bytes_per_day {
            return Err(format!(
                "this upload would take you past your daily upload limit of {} bytes \
                 ({} used in the last 24 hours)",
                self.bytes_per_day, usage.bytes_last_day
            ));
        }
        if usage.bytes_total.saturating_add(size_bytes) > self.storage_bytes {
            return Err(format!(
                "this upload would take you past your storage limit of {} bytes ({} used)",
                self.storage_bytes, usage.bytes_total
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_is_named_when_crossed() {
        let quotas = Quotas {
            uploads_in_flight: 2,
            bytes_per_day: 100,
            storage_bytes: 1000,
        };
        let usage = |in_flight, day, total| Usage {
            uploads_in_flight: in_flight,
            bytes_last_day: day,
            bytes_total: total,
        };
        assert_eq!(quotas.admit(&usage(1, 50, 500), 50), Ok(()));
        let refused = |u, size| quotas.admit(&u, size).expect_err("refused");
        assert!(refused(usage(2, 0, 0), 1).contains("uploads in progress"));
        assert!(refused(usage(0, 60, 60), 41).contains("daily upload limit"));
        assert!(refused(usage(0, 0, 990), 11).contains("storage limit"));
        assert!(refused(usage(0, 0, 0), i64::MAX).contains("daily"));
        // A growing upload's bytes, checked at completion: in flight is not counted again.
        assert_eq!(quotas.admit_bytes(&usage(2, 50, 500), 50), Ok(()));
        let bytes = quotas
            .admit_bytes(&usage(2, 60, 60), 41)
            .expect_err("refused");
        assert!(bytes.contains("daily upload limit"), "{bytes}");
    }
}
