//! Running an attempt again after a conflict: the pause between attempts that every
//! backend and the runtime's transactions share.
//!
//! Attempts that collide once tend to collide again if they start again at once; a random
//! pause, growing with the attempts, spreads them out. A conflict that took long to detect
//! (a lock that timed out) is spread over as long: attempts that all waited on one another
//! and were all aborted together would otherwise meet again.

use crate::error::{ErrorKind, Result};
use std::future::Future;
use std::time::Duration;

/// Sleeps a random time below `min(2^attempt ms, ceiling)` (below 2 ms after the first
/// attempt, below 4 ms after the second, and so on), or below `took`, how long the attempt
/// that met the conflict took, when that is longer (at most ten seconds).
///
/// It sleeps on the blocking pool of the current Tokio runtime (which may have no timer),
/// or on the calling thread outside one.
///
/// ```
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let started = std::time::Instant::now();
/// nonrel_runtime::backend::retry::backoff(1, Duration::from_millis(50), Duration::ZERO).await;
/// assert!(started.elapsed() < Duration::from_secs(1));
/// # });
/// ```
pub async fn backoff(attempt: u32, ceiling: Duration, took: Duration) {
    let pause = pause(attempt, ceiling, took, jitter());
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let _ = handle.spawn_blocking(move || std::thread::sleep(pause)).await;
        }
        Err(_) => std::thread::sleep(pause),
    }
}

/// Runs `attempt` until it returns something other than a
/// [`Conflict`](ErrorKind::Conflict), at most `tries` times, pausing with [`backoff`]
/// (below `ceiling`, or below the time the failed attempt took) before each new attempt. The last conflict is returned when every
/// attempt had one.
///
/// ```
/// use nonrel_runtime::{backend::retry, Error, ErrorKind};
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut calls = 0;
/// let value = retry::on_conflict(5, Duration::from_millis(4), || {
///     calls += 1;
///     let n = calls;
///     async move {
///         if n < 3 {
///             Err(Error::new(ErrorKind::Conflict, "changed meanwhile"))
///         } else {
///             Ok(n)
///         }
///     }
/// })
/// .await;
/// assert_eq!(value.unwrap(), 3);
/// # });
/// ```
pub async fn on_conflict<T, F, Fut>(tries: u32, ceiling: Duration, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut done = 1;
    loop {
        let started = std::time::Instant::now();
        match attempt().await {
            Err(e) if e.kind() == ErrorKind::Conflict && done < tries => {
                backoff(done, ceiling, started.elapsed()).await;
                done += 1;
            }
            other => return other,
        }
    }
}

/// The longest conflict detection a pause follows.
const LONGEST_TOOK: Duration = Duration::from_secs(10);

/// The pause for `attempt` drawn from the random number `random`.
fn pause(attempt: u32, ceiling: Duration, took: Duration, random: u64) -> Duration {
    let grown = Duration::from_millis(1u64 << attempt.min(20));
    let bound = grown.min(ceiling).max(took.min(LONGEST_TOOK)).as_micros().max(1) as u64;
    Duration::from_micros(random % bound)
}

/// A cheap pseudo-random number (no cryptographic use): a hash of the time, with a key
/// that differs per process.
fn jitter() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn a_conflict_runs_again_and_other_errors_do_not() {
        let mut calls = 0;
        let r: Result<()> = on_conflict(4, Duration::from_millis(1), || {
            calls += 1;
            async { Err(Error::new(ErrorKind::Conflict, "again")) }
        })
        .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(calls, 4, "every try is used on conflicts");
        let mut calls = 0;
        let r: Result<()> = on_conflict(4, Duration::from_millis(1), || {
            calls += 1;
            async { Err(Error::new(ErrorKind::Storage, "down")) }
        })
        .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Storage);
        assert_eq!(calls, 1, "other errors end at once");
    }

    #[test]
    fn the_pause_grows_with_the_attempts_up_to_its_ceiling_or_the_time_taken() {
        let ceiling = Duration::from_millis(100);
        for random in [0, 1, 999, 1_000_000_007, u64::MAX] {
            for attempt in 0..64 {
                let bound = Duration::from_millis(1 << attempt.min(20)).min(ceiling);
                assert!(pause(attempt, ceiling, Duration::ZERO, random) < bound, "attempt {attempt}, random {random}");
                let took = Duration::from_secs(2);
                assert!(pause(attempt, ceiling, took, random) < bound.max(took), "attempt {attempt}, random {random}");
            }
        }
        // Every value below the bound can be drawn.
        assert_eq!(pause(3, ceiling, Duration::ZERO, 7_999), Duration::from_micros(7_999));
        assert_eq!(pause(40, ceiling, Duration::ZERO, 99_999), Duration::from_micros(99_999));
        assert_eq!(pause(40, Duration::ZERO, Duration::ZERO, 5), Duration::ZERO);
        // A slow conflict spreads the next attempts over as long, up to ten seconds.
        assert_eq!(pause(1, ceiling, Duration::from_secs(2), 1_999_999), Duration::from_micros(1_999_999));
        assert!(pause(1, ceiling, Duration::from_secs(60), u64::MAX) < LONGEST_TOOK);
    }
}
