//! Retry budget: exponential backoff with full jitter, `Retry-After`, bounded
//! by attempts and by total time.

use std::time::{Duration, Instant};

use rand::RngExt as _;

use crate::BucketError;

/// How often and how long to retry a failing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts per operation, the first included (default 8).
    pub max_attempts: u32,
    /// Backoff before the second attempt, doubled after each failure (default 250 ms).
    pub base_delay: Duration,
    /// Longest backoff between two attempts (default 30 s).
    pub max_delay: Duration,
    /// Give up when the next attempt would start later than this after the first (default 15 min).
    pub total_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            total_timeout: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter delay before attempt `failed + 1`: uniform in `[0, min(max, base * 2^(failed-1))]`.
    pub fn backoff(&self, failed: u32) -> Duration {
        let shift = failed.saturating_sub(1).min(30);
        let cap = self.base_delay.saturating_mul(1u32 << shift).min(self.max_delay);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        if cap_ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=cap_ms))
    }
}

/// Attempts made so far for one operation.
#[derive(Debug)]
pub(crate) struct RetryState {
    policy: RetryPolicy,
    started: Instant,
    /// Attempts started so far.
    pub attempts: u32,
    /// Last HTTP status received, for the final error.
    pub last_status: Option<u16>,
    /// Whether a 401 already caused a token refresh.
    pub refreshed_auth: bool,
}

impl RetryState {
    pub fn new(policy: &RetryPolicy) -> RetryState {
        RetryState {
            policy: policy.clone(),
            started: Instant::now(),
            attempts: 0,
            last_status: None,
            refreshed_auth: false,
        }
    }

    /// Sleeps before the next attempt, or returns `err` (the last failure) when
    /// the attempts or the total time are used up.
    pub async fn wait(&mut self, retry_after: Option<Duration>, err: BucketError) -> Result<(), BucketError> {
        let err = err.with_last_status(self.last_status);
        if self.attempts >= self.policy.max_attempts.max(1) {
            return Err(err);
        }
        let mut delay = self.policy.backoff(self.attempts);
        if let Some(ra) = retry_after {
            delay = delay.max(ra);
        }
        let elapsed = self.started.elapsed();
        if elapsed + delay > self.policy.total_timeout {
            let note = format!(
                "gave up: the retry time limit of {}s would pass before the next attempt",
                self.policy.total_timeout.as_secs()
            );
            return Err(err.with_note(&note));
        }
        tracing::warn!(
            attempt = self.attempts,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %err,
            "bucket request failed; retrying"
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// Parses `Retry-After` in its delta-seconds form (GCS's); HTTP dates are ignored.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            total_timeout: Duration::from_secs(60),
        };
        for failed in 1..40 {
            let cap = Duration::from_millis(100)
                .saturating_mul(1 << (failed - 1).min(30))
                .min(p.max_delay);
            for _ in 0..50 {
                assert!(p.backoff(failed) <= cap);
            }
        }
        // With full jitter the mean of late attempts is near max/2, well above the first cap.
        let sum: Duration = (0..400).map(|_| p.backoff(10)).sum();
        assert!(sum / 400 > Duration::from_millis(300), "{:?}", sum / 400);
    }

    #[test]
    fn retry_after_parses_seconds_only() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[tokio::test]
    async fn wait_stops_at_attempts_and_total_time() {
        let p = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            total_timeout: Duration::from_secs(5),
        };
        let mut st = RetryState::new(&p);
        let e = || BucketError::Transport {
            object: "o".into(),
            message: "x".into(),
            attempts: 0,
            last_status: None,
        };
        st.attempts = 1;
        st.last_status = Some(503);
        st.wait(None, e()).await.expect("first retry allowed");
        st.attempts = 2;
        let err = st.wait(None, e()).await.expect_err("budget used up");
        assert!(err.to_string().contains("last HTTP status 503"), "{err}");

        let mut st = RetryState::new(&RetryPolicy {
            max_attempts: 10,
            ..p
        });
        st.attempts = 1;
        let err = st
            .wait(Some(Duration::from_secs(10)), e())
            .await
            .expect_err("Retry-After beyond the total limit");
        assert!(err.to_string().contains("retry time limit"), "{err}");
    }
}
