//! Attempts (the first and every retry) and throttling answers, counted by an SDK
//! interceptor, and the width of requests in flight that throttling lowers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ecr::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_ecr::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecr::error::{BoxError, ProvideErrorMetadata};

use super::width::Width;

/// Counts attempts and throttling answers, and holds the width of requests in flight
/// that throttling lowers.
#[derive(Debug)]
pub struct AttemptCounter {
    attempts: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    /// Requests in flight at once at most.
    pub width: Width,
}

impl AttemptCounter {
    /// Counters at zero, and a width of `max_in_flight`.
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            attempts: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            width: Width::new(max_in_flight),
        }
    }

    /// An attempt starts.
    pub fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// An answer was throttling: fewer requests in flight, unless the call's budget
    /// took it (`paced`): then its bucket slows that account's calls of that quota
    /// only, and the width, shared by every account, stays.
    pub fn throttled(&self, paced: bool) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        if !paced {
            self.width.throttled();
        }
    }

    /// An answer was a server error.
    pub fn server_error(&self) {
        self.server_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts so far.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Throttling answers so far.
    pub fn throttled_answers(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Server errors so far.
    pub fn server_errors(&self) -> u64 {
        self.server_errors.load(Ordering::Relaxed)
    }
}

/// The SDK interceptor that reports every attempt of a client's calls to a counter.
#[derive(Debug, Clone)]
pub struct CountAttempts(pub Arc<AttemptCounter>);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "ecr-reconcile attempt counter"
    }

    // Counted as each attempt starts: an attempt cut off by the attempt timeout never
    // reaches `read_after_attempt` (the SDK drops it), and would go uncounted.
    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempt();
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(response) = context.response() {
            let status = response.status().as_u16();
            let throttled = status == 429
                || (status == 400 && attempt_code(context) == Some("ThrottlingException"));
            if throttled {
                self.0.throttled(super::budget::throttled_here());
            } else if status >= 500 {
                self.0.server_error();
            } else if status < 400 {
                self.0.width.succeeded();
            }
        }
        Ok(())
    }
}

/// The error code of an attempt's answer, as the SDK parsed it (from the
/// `x-amzn-errortype` header or the body), for every operation the counted clients
/// call.
fn attempt_code<'a>(context: &'a FinalizerInterceptorContextRef<'_>) -> Option<&'a str> {
    let error = context.output_or_error()?.err()?.as_operation_error()?;
    macro_rules! code_of {
        ($($operation_error:ty),+) => {
            $(
                if let Some(e) = error.downcast_ref::<$operation_error>() {
                    return e.code();
                }
            )+
        };
    }
    use aws_sdk_ecr::operation as ecr;
    use aws_sdk_ecrpublic::operation as public;
    code_of!(
        ecr::describe_registry::DescribeRegistryError,
        ecr::describe_repositories::DescribeRepositoriesError,
        ecr::describe_images::DescribeImagesError,
        ecr::batch_get_image::BatchGetImageError,
        ecr::batch_delete_image::BatchDeleteImageError,
        ecr::put_image::PutImageError,
        ecr::get_lifecycle_policy::GetLifecyclePolicyError,
        ecr::update_image_storage_class::UpdateImageStorageClassError,
        ecr::describe_pull_through_cache_rules::DescribePullThroughCacheRulesError,
        public::describe_registries::DescribeRegistriesError,
        public::describe_repositories::DescribeRepositoriesError,
        public::describe_images::DescribeImagesError,
        public::batch_delete_image::BatchDeleteImageError,
        public::put_image::PutImageError,
        public::get_authorization_token::GetAuthorizationTokenError
    );
    None
}
