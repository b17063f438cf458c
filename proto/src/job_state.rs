//! `JobState` at the protobuf boundary: its short names (`queued`, as the queue and the CLI
//! write them) and, with the `core` feature, the conversions to and from the queue's own type.

use crate::pb::JobState;

const PREFIX: &str = "JOB_STATE_";

impl JobState {
    /// `JOB_STATE_QUEUED` → `queued`.
    pub fn short_name(self) -> String {
        let name = self.as_str_name();
        name.strip_prefix(PREFIX)
            .unwrap_or(name)
            .to_ascii_lowercase()
    }

    /// `queued` → `JOB_STATE_QUEUED`; `None` for an unknown name.
    pub fn from_short_name(name: &str) -> Option<Self> {
        Self::from_str_name(&format!("{PREFIX}{}", name.to_ascii_uppercase()))
            .filter(|state| *state != Self::Unspecified)
    }
}

#[cfg(feature = "core")]
mod core_conversions {
    use vodnest_core::job_kind::JobState as Core;

    use crate::pb::JobState;

    impl From<Core> for JobState {
        fn from(state: Core) -> Self {
            match state {
                Core::Queued => Self::Queued,
                Core::Running => Self::Running,
                Core::Succeeded => Self::Succeeded,
                Core::Failed => Self::Failed,
                Core::Canceled => Self::Canceled,
            }
        }
    }

    /// `Unspecified` has no queue state (in a filter it means "any").
    impl TryFrom<JobState> for Core {
        type Error = JobState;

        fn try_from(state: JobState) -> Result<Self, JobState> {
            Ok(match state {
                JobState::Unspecified => return Err(state),
                JobState::Queued => Self::Queued,
                JobState::Running => Self::Running,
                JobState::Succeeded => Self::Succeeded,
                JobState::Failed => Self::Failed,
                JobState::Canceled => Self::Canceled,
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_queue_state_round_trips_with_its_name() {
            for &state in Core::ALL {
                let pb = JobState::from(state);
                assert_eq!(Core::try_from(pb), Ok(state));
                assert_eq!(pb.short_name(), state.as_str());
                assert_eq!(JobState::from_short_name(state.as_str()), Some(pb));
            }
            assert_eq!(JobState::from_short_name("unspecified"), None);
            assert_eq!(JobState::from_short_name("done"), None);
        }
    }
}
