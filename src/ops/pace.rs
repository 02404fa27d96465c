//! Pacing of calls that ECR rate-limits with a published quota (PutImage: 10 per
//! second): a sliding-window limiter that lets a call start only when fewer than
//! `limit` calls started in the `window` before it. It waits only when the quota
//! would be exceeded, never per call, and reads time through a [`Clock`] so that
//! tests drive it with a fake one.

use std::collections::VecDeque;
use std::time::Duration;

pub use crate::aws::clock::{Clock, TokioClock};

/// ECR's published PutImage quota is 10 per second; the limiter keeps one below it
/// so that a clock's jitter never makes an eleventh call count in the same second.
pub const PUT_IMAGE_PER_SECOND: usize = 9;

/// At most `limit` calls start in any window of `window`.
#[derive(Debug)]
pub struct Pacer<C> {
    clock: C,
    limit: usize,
    window: Duration,
    /// The start times of the last `limit` calls, oldest first. Held across the wait,
    /// so that concurrent callers queue in turn.
    recent: tokio::sync::Mutex<VecDeque<Duration>>,
}

impl<C: Clock> Pacer<C> {
    /// A limiter of `limit` (at least 1) calls per `window`.
    pub fn new(clock: C, limit: usize, window: Duration) -> Self {
        Self {
            clock,
            limit: limit.max(1),
            window,
            recent: tokio::sync::Mutex::new(VecDeque::new()),
        }
    }

    /// The PutImage limiter: [`PUT_IMAGE_PER_SECOND`] per second.
    pub fn put_image(clock: C) -> Self {
        Self::new(clock, PUT_IMAGE_PER_SECOND, Duration::from_secs(1))
    }

    /// A limiter that never waits: for a registry without quotas (a snapshot file,
    /// the in-memory model), where pacing would only make an offline run slow.
    pub fn unlimited(clock: C) -> Self {
        Self::new(clock, usize::MAX, Duration::ZERO)
    }

    /// Waits until a call may start, and counts it as started.
    pub async fn ready(&self) {
        if self.limit == usize::MAX {
            return;
        }
        let mut recent = self.recent.lock().await;
        let now = self.clock.now();
        let at = next_start(&recent, now, self.limit, self.window);
        if at > now {
            self.clock.sleep(at - now).await;
        }
        let started = self.clock.now().max(at);
        if recent.len() == self.limit {
            recent.pop_front();
        }
        recent.push_back(started);
    }
}

/// When the next call may start, given the start times of the last calls (oldest
/// first, at most `limit`): now while fewer than `limit` started within the window,
/// else when the oldest of the last `limit` leaves it.
pub fn next_start(
    recent: &VecDeque<Duration>,
    now: Duration,
    limit: usize,
    window: Duration,
) -> Duration {
    if recent.len() < limit {
        return now;
    }
    let oldest = recent[recent.len() - limit];
    now.max(oldest + window)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::future::Future;

    pub use crate::aws::clock::tests::FakeClock;

    /// The largest number of `times` in any half-open window `[t, t + window)`.
    pub fn most_in_any_window(times: &[Duration], window: Duration) -> usize {
        times
            .iter()
            .map(|&t| times.iter().filter(|&&u| u >= t && u < t + window).count())
            .max()
            .unwrap_or(0)
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_schedule_waits_only_when_the_window_is_full() {
        let ms = Duration::from_millis;
        let window = ms(1000);
        let mut recent: VecDeque<Duration> = VecDeque::new();
        assert_eq!(next_start(&recent, ms(5), 3, window), ms(5));
        recent.extend([ms(0), ms(10), ms(20)]);
        assert_eq!(next_start(&recent, ms(30), 3, window), ms(1000));
        assert_eq!(next_start(&recent, ms(1500), 3, window), ms(1500));
    }

    #[test]
    fn fifty_calls_never_exceed_the_quota_in_any_second() {
        let clock = FakeClock::default();
        let pacer = Pacer::put_image(&clock);
        let mut starts = Vec::new();
        block_on(async {
            for _ in 0..50 {
                pacer.ready().await;
                starts.push((&clock).now());
            }
        });
        let second = Duration::from_secs(1);
        assert_eq!(
            most_in_any_window(&starts, second),
            PUT_IMAGE_PER_SECOND,
            "{starts:?}"
        );
        // It waits for the quota, not per call: the first calls go at once, and the
        // whole run takes as long as the quota requires and no longer.
        assert!(starts[..PUT_IMAGE_PER_SECOND].iter().all(|t| t.is_zero()));
        assert_eq!(starts[49], second * (49 / PUT_IMAGE_PER_SECOND) as u32);
        // One wait per full window, not one per call.
        assert_eq!(
            clock.sleeps.lock().unwrap().len(),
            49 / PUT_IMAGE_PER_SECOND
        );
    }

    #[test]
    fn slow_calls_are_not_slowed_down() {
        let clock = FakeClock::default();
        let pacer = Pacer::put_image(&clock);
        block_on(async {
            for _ in 0..30 {
                pacer.ready().await;
                // Each call takes longer than the quota's share of a second.
                clock.advance(Duration::from_millis(200));
            }
        });
        assert!(clock.sleeps.lock().unwrap().is_empty());
    }

    #[test]
    fn an_unlimited_pacer_never_waits() {
        let clock = FakeClock::default();
        let pacer = Pacer::unlimited(&clock);
        block_on(async {
            for _ in 0..1000 {
                pacer.ready().await;
            }
        });
        assert!(clock.sleeps.lock().unwrap().is_empty());
        // The PutImage pacer, for comparison, waits after its ninth call of a second.
        let paced = Pacer::put_image(&clock);
        block_on(async {
            for _ in 0..=PUT_IMAGE_PER_SECOND {
                paced.ready().await;
            }
        });
        assert_eq!(clock.sleeps.lock().unwrap().len(), 1);
    }
}
