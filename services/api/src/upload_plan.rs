//! How an upload is cut into multipart parts.

/// S3 allows at most 10,000 parts per multipart upload.
pub const MAX_PARTS: i64 = 10_000;
const MIB: i64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPlan {
    pub part_size: i64,
    pub part_count: i32,
}

/// `max(min_part, ceil(size / 10,000))` rounded up to a whole MiB; `None` for an empty file.
pub fn plan(size_bytes: i64, min_part: i64) -> Option<UploadPlan> {
    if size_bytes <= 0 || min_part <= 0 {
        return None;
    }
    let needed = ceil_div(size_bytes, MAX_PARTS);
    let part_size = ceil_div(needed.max(min_part), MIB) * MIB;
    let part_count = i32::try_from(ceil_div(size_bytes, part_size)).ok()?;
    Some(UploadPlan {
        part_size,
        part_count,
    })
}

/// The plan of a file whose length is not known yet (a recording still being written): parts
/// sized so that any file up to `max_bytes` fits in 10,000 of them, and 10,000 of them at most.
pub fn plan_growing(max_bytes: i64, min_part: i64) -> Option<UploadPlan> {
    plan(max_bytes, min_part).map(|p| UploadPlan {
        part_size: p.part_size,
        part_count: i32::try_from(MAX_PARTS).unwrap_or(i32::MAX),
    })
}

impl UploadPlan {
    /// The exact length of part `n` (1-based) of a file of `size_bytes`: `part_size`, except
    /// the last part, which holds the rest. Presigned part URLs sign it.
    pub fn part_length(&self, size_bytes: i64, n: i32) -> i64 {
        if n < self.part_count {
            self.part_size
        } else {
            size_bytes - self.part_size * i64::from(self.part_count - 1)
        }
    }
}

/// Ceiling division of positive numbers (`i64::div_ceil` is not stable for signed integers).
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_add_up_to_the_file() {
        let size = 20 * MIB + 3;
        let plan = plan(size, 8 * MIB).expect("a plan");
        assert_eq!(plan.part_count, 3);
        let lengths: Vec<_> = (1..=3).map(|n| plan.part_length(size, n)).collect();
        assert_eq!(lengths, vec![8 * MIB, 8 * MIB, 4 * MIB + 3]);
        assert_eq!(lengths.iter().sum::<i64>(), size);
    }

    #[test]
    fn small_files_are_one_part() {
        assert_eq!(
            plan(1, 8 * MIB),
            Some(UploadPlan {
                part_size: 8 * MIB,
                part_count: 1
            })
        );
        assert_eq!(plan(8 * MIB, 8 * MIB).map(|p| p.part_count), Some(1));
        assert_eq!(plan(8 * MIB + 1, 8 * MIB).map(|p| p.part_count), Some(2));
    }

    #[test]
    fn huge_files_stay_within_ten_thousand_parts() {
        let size = 1024 * 1024 * MIB; // 1 TiB
        let p = plan(size, 8 * MIB).expect("plan");
        assert!(i64::from(p.part_count) <= MAX_PARTS);
        assert_eq!(p.part_size % MIB, 0);
        assert!(p.part_size * i64::from(p.part_count) >= size);
    }

    #[test]
    fn a_growing_file_fits_up_to_the_largest_upload() {
        let max = 100 * 1024 * MIB; // 100 GiB
        let p = plan_growing(max, 8 * MIB).expect("plan");
        assert_eq!(i64::from(p.part_count), MAX_PARTS);
        assert!(p.part_size * MAX_PARTS >= max);
        assert_eq!(p.part_size, 11 * MIB);
    }

    #[test]
    fn empty_is_refused() {
        assert_eq!(plan(0, 8 * MIB), None);
        assert_eq!(plan(-5, 8 * MIB), None);
    }
}
