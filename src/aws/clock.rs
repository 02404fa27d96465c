//! Time as the pacing of calls sees it: an instant and a way to wait, read through a
//! trait so that tests drive the pacing with a fake clock.

use std::future::Future;
use std::time::Duration;

/// Time as a limiter sees it: an instant (as a duration since an arbitrary origin)
/// and a way to wait.
pub trait Clock: Send + Sync {
    /// Now, since the clock's origin.
    fn now(&self) -> Duration;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// The real clock (tokio's).
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A clock whose time moves only when something sleeps on it; it records every
    /// sleep.
    #[derive(Debug, Default)]
    pub struct FakeClock {
        now: Mutex<Duration>,
        pub sleeps: Mutex<Vec<Duration>>,
    }

    impl Clock for &FakeClock {
        fn now(&self) -> Duration {
            *self.now.lock().unwrap()
        }

        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
            *self.now.lock().unwrap() += duration;
            self.sleeps.lock().unwrap().push(duration);
            std::future::ready(())
        }
    }

    impl FakeClock {
        /// Lets time pass without anyone waiting (work between calls).
        pub fn advance(&self, duration: Duration) {
            *self.now.lock().unwrap() += duration;
        }
    }
}
