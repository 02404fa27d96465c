//! One budget of calls per account, region and quota, shared by the whole run: every
//! AWS call takes a token from its bucket before it is sent, so that many
//! repositories (or many in-use reads) of one account never throttle themselves, and
//! the accounts of a run are paced side by side, each on its own buckets.
//!
//! A bucket holds at most `capacity` tokens and gains `per_second` tokens a second
//! (the token bucket ECS documents for its own throttling). A call that finds no token
//! reserves the next one under a short lock and sleeps until it is due, without
//! holding the lock: callers are served in the order they asked, and nobody polls.
//!
//! A call is sent with the ticket of its bucket (a task-local, [`Ticket::scope`]):
//! the attempt counter tells that bucket of each throttling answer, retries
//! included, and the bucket is emptied and charged the retry's token. The buckets of
//! ECR APIs without a published rate start generous and adapt (AIMD, [`Adapt`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock::{Clock, TokioClock};
use crate::model::{AccountId, Region};

/// An AWS API the tool calls, as `--api-rate` names it: ECR's by their action name,
/// ECS's and Lambda's with the service's prefix.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
pub enum Api {
    /// ecr:DescribeRegistry.
    DescribeRegistry,
    /// ecr:DescribeRepositories.
    DescribeRepositories,
    /// ecr:DescribeImages.
    DescribeImages,
    /// ecr:DescribePullThroughCacheRules.
    DescribePullThroughCacheRules,
    /// ecr:ListPullTimeUpdateExclusions.
    ListPullTimeUpdateExclusions,
    /// ecr:GetLifecyclePolicy.
    GetLifecyclePolicy,
    /// ecr:BatchGetImage.
    BatchGetImage,
    /// ecr:BatchDeleteImage.
    BatchDeleteImage,
    /// ecr:PutImage.
    PutImage,
    /// ecr:UpdateImageStorageClass.
    UpdateImageStorageClass,
    /// ecs:ListClusters.
    #[strum(serialize = "ecs:ListClusters")]
    EcsListClusters,
    /// ecs:ListServices.
    #[strum(serialize = "ecs:ListServices")]
    EcsListServices,
    /// ecs:DescribeServices.
    #[strum(serialize = "ecs:DescribeServices")]
    EcsDescribeServices,
    /// ecs:ListTasks.
    #[strum(serialize = "ecs:ListTasks")]
    EcsListTasks,
    /// ecs:DescribeTasks.
    #[strum(serialize = "ecs:DescribeTasks")]
    EcsDescribeTasks,
    /// ecs:ListTaskDefinitionFamilies.
    #[strum(serialize = "ecs:ListTaskDefinitionFamilies")]
    EcsListTaskDefinitionFamilies,
    /// ecs:ListTaskDefinitions.
    #[strum(serialize = "ecs:ListTaskDefinitions")]
    EcsListTaskDefinitions,
    /// ecs:DescribeTaskDefinition.
    #[strum(serialize = "ecs:DescribeTaskDefinition")]
    EcsDescribeTaskDefinition,
    /// lambda:ListFunctions.
    #[strum(serialize = "lambda:ListFunctions")]
    LambdaListFunctions,
    /// lambda:ListVersionsByFunction.
    #[strum(serialize = "lambda:ListVersionsByFunction")]
    LambdaListVersionsByFunction,
    /// lambda:ListAliases.
    #[strum(serialize = "lambda:ListAliases")]
    LambdaListAliases,
    /// lambda:GetFunction.
    #[strum(serialize = "lambda:GetFunction")]
    LambdaGetFunction,
}

/// A quota, and so a bucket: one API's own for ECR, a group of actions for ECS (its
/// quotas are per action group), and for Lambda GetFunction's own or the rest of the
/// control plane's, shared by every other API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quota {
    /// One ECR API's.
    Ecr(Api),
    /// ECS "cluster read actions".
    EcsClusterRead,
    /// ECS "service read actions".
    EcsServiceRead,
    /// ECS "cluster resource read actions" (tasks).
    EcsClusterResourceRead,
    /// ECS "task definition read actions".
    EcsTaskDefinitionRead,
    /// Lambda's GetFunction requests.
    LambdaGetFunction,
    /// Lambda's "remainder of the control plane API requests".
    LambdaControlPlane,
}

/// The size of a bucket: at most `capacity` tokens (the burst), `per_second` more each
/// second (the sustained rate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Tokens the bucket holds at most, and holds at the start.
    pub capacity: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

impl Rate {
    /// A sustained rate of `per_second` with a burst of `capacity`.
    pub const fn new(capacity: f64, per_second: f64) -> Self {
        Self {
            capacity,
            per_second,
        }
    }

    /// The rate a run spends of this quota: [`HEADROOM`] of the sustained rate, and of
    /// the burst (at least one token).
    pub fn with_headroom(self) -> Self {
        Self::new(
            (self.capacity * HEADROOM).floor().max(1.0),
            self.per_second * HEADROOM,
        )
    }

    /// `per_second` with a burst of one second's worth (at least one token).
    pub fn per_second(per_second: f64) -> Self {
        Self::new(per_second.max(1.0), per_second)
    }
}

/// The share of each quota a run spends: the tool's clock and AWS's are not the same,
/// and a call reaches AWS some time after it took its token, so calls paced at
/// exactly the quota would now and then arrive closer together than it allows (and
/// other clients of the account need some room too).
pub const HEADROOM: f64 = 0.9;

/// Where ECR APIs without a published rate start: a burst of 200 and 200 a second,
/// above what a run's requests in flight reach against ECR (32 at 100 to 300 ms a
/// call: 100 to 300 calls a second, across all APIs), so the default never slows a
/// plan that ECR does not throttle. These buckets adapt (see [`Adapt`]): a throttling
/// answer halves the rate, which then recovers slowly.
pub const UNPUBLISHED_ECR: Rate = Rate::new(200.0, 200.0);

/// How an adaptive bucket (an ECR API without a published rate, unless `--api-rate`
/// pins it) follows the answers: additive increase, multiplicative decrease.
pub struct Adapt;

impl Adapt {
    /// A throttling answer multiplies the rate by this...
    pub const DECREASE: f64 = 0.5;
    /// ...at most once per second's worth of calls at the current rate (calls in
    /// flight together are throttled together: one storm, one halving)...
    pub const LOWEST: f64 = 1.0;
    /// ...and the rate then grows back by this many calls a second, each second,
    /// up to where it started.
    pub const RECOVERY_PER_SECOND: f64 = 2.0;
}

impl Api {
    /// The quota the API's calls count against.
    pub fn quota(self) -> Quota {
        use Api::*;
        match self {
            EcsListClusters => Quota::EcsClusterRead,
            EcsListServices | EcsDescribeServices => Quota::EcsServiceRead,
            EcsListTasks | EcsDescribeTasks => Quota::EcsClusterResourceRead,
            EcsListTaskDefinitionFamilies | EcsListTaskDefinitions | EcsDescribeTaskDefinition => {
                Quota::EcsTaskDefinitionRead
            }
            LambdaGetFunction => Quota::LambdaGetFunction,
            LambdaListFunctions | LambdaListVersionsByFunction | LambdaListAliases => {
                Quota::LambdaControlPlane
            }
            ecr => Quota::Ecr(ecr),
        }
    }
}

impl Quota {
    /// The documented rate where AWS publishes one, else [`UNPUBLISHED_ECR`]. The
    /// book's AWS page gives the source of each.
    pub fn default_rate(self) -> Rate {
        match self {
            // ECR's published rate quotas (Service Quotas): per second.
            Quota::Ecr(Api::BatchGetImage) => Rate::per_second(2000.0),
            Quota::Ecr(Api::PutImage) => Rate::per_second(10.0),
            Quota::Ecr(_) => UNPUBLISHED_ECR,
            // ECS API reference, "Request throttling": bucket capacity, refill rate.
            Quota::EcsClusterRead | Quota::EcsTaskDefinitionRead => Rate::new(50.0, 20.0),
            Quota::EcsServiceRead | Quota::EcsClusterResourceRead => Rate::new(100.0, 20.0),
            // Lambda quotas, "API requests": per second, cannot be increased.
            Quota::LambdaGetFunction => Rate::per_second(100.0),
            Quota::LambdaControlPlane => Rate::per_second(15.0),
        }
    }
}

/// One `--api-rate API=RATE[,BURST]`: the sustained rate of the API's quota (shared
/// with the other APIs of its group) and its burst, by default one second's worth.
/// A rate given so is fixed: it does not adapt to throttling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApiRate {
    /// The API named.
    pub api: Api,
    /// Calls per second.
    pub per_second: f64,
    /// The bucket's capacity, when given.
    pub burst: Option<f64>,
}

impl ApiRate {
    /// The bucket this gives.
    pub fn rate(&self) -> Rate {
        match self.burst {
            Some(burst) => Rate::new(burst, self.per_second),
            None => Rate::per_second(self.per_second),
        }
    }
}

/// Why an `--api-rate` is not understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiRateError {
    /// No `=`.
    #[error("expected API=RATE or API=RATE,BURST (e.g. DescribeImages=20), not `{0}`")]
    Shape(String),
    /// An API the tool does not call.
    #[error("unknown API `{0}`: one of {1}")]
    UnknownApi(String, String),
    /// Not a positive number.
    #[error("the rate of {0} must be a number of calls per second above 0, not `{1}`")]
    Rate(String, String),
    /// A burst that is not a number of calls of at least 1.
    #[error("the burst of {0} must be a number of calls of at least 1, not `{1}`")]
    Burst(String, String),
}

impl std::str::FromStr for ApiRate {
    type Err = ApiRateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use strum::IntoEnumIterator;
        let (name, rate) = s
            .split_once('=')
            .ok_or_else(|| ApiRateError::Shape(s.to_owned()))?;
        let api: Api = name.trim().parse().map_err(|_| {
            let known: Vec<&str> = Api::iter().map(<&str>::from).collect();
            ApiRateError::UnknownApi(name.to_owned(), known.join(", "))
        })?;
        let (rate, burst) = match rate.split_once(',') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (rate, None),
        };
        let per_second = rate
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0)
            .ok_or_else(|| ApiRateError::Rate(name.to_owned(), rate.to_owned()))?;
        let burst = burst
            .map(|b| {
                b.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|b| b.is_finite() && *b >= 1.0)
                    .ok_or_else(|| ApiRateError::Burst(name.to_owned(), b.to_owned()))
            })
            .transpose()?;
        Ok(Self {
            api,
            per_second,
            burst,
        })
    }
}

/// A bucket's tokens as of an instant (which may be in the future: the instant the
/// last reserved token is due), and its current rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketState {
    tokens: f64,
    at: Duration,
    /// The sustained rate now: the bucket's own, or less while an adaptive bucket
    /// recovers from throttling.
    per_second: f64,
    /// When an adaptive bucket last grew its rate back.
    recovered_at: Duration,
    /// Tokens reserved since the rate was last lowered.
    since_lowered: f64,
}

impl BucketState {
    /// A full bucket at the clock's origin.
    pub fn full(rate: Rate) -> Self {
        Self {
            tokens: rate.capacity,
            at: Duration::ZERO,
            per_second: rate.per_second,
            recovered_at: Duration::ZERO,
            since_lowered: f64::INFINITY,
        }
    }

    /// The current sustained rate.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// An attempt was throttled: the service's bucket is empty, whatever this one
    /// holds, and the retry to come spends a token of it. So this bucket is emptied
    /// and charged the retry's token; an adaptive one also lowers its rate (once per
    /// second's worth of calls).
    pub fn throttled(&mut self, adaptive: bool) {
        self.tokens = self.tokens.min(0.0) - 1.0;
        if adaptive && self.since_lowered >= self.per_second {
            self.per_second = (self.per_second * Adapt::DECREASE).max(Adapt::LOWEST);
            self.since_lowered = 0.0;
        }
    }

    /// An adaptive bucket's rate grown back for the time since it last grew, up to
    /// `ceiling`.
    pub fn recover(&mut self, ceiling: Rate, now: Duration) {
        if now > self.recovered_at {
            let grown = (now - self.recovered_at).as_secs_f64() * Adapt::RECOVERY_PER_SECOND;
            self.per_second = (self.per_second + grown).min(ceiling.per_second);
            self.recovered_at = now;
        }
    }
}

/// Takes the next token of a bucket of capacity `rate.capacity` at its current rate,
/// asked for at `now`: the instant the call may start (now, or when the token is
/// due). Each call is served after every call that asked before it.
pub fn reserve(state: &mut BucketState, rate: Rate, now: Duration) -> Duration {
    let per_second = state.per_second;
    state.since_lowered += 1.0;
    if now > state.at {
        let refill = (now - state.at).as_secs_f64() * per_second;
        state.tokens = (state.tokens + refill).min(rate.capacity);
        state.at = now;
    }
    if state.tokens >= 1.0 {
        state.tokens -= 1.0;
        return state.at;
    }
    let due = state.at + Duration::from_secs_f64((1.0 - state.tokens) / per_second);
    state.tokens = 0.0;
    state.at = due;
    due
}

/// One bucket of a run: its state, its size and whether it adapts to throttling.
#[derive(Debug)]
pub struct Bucket {
    state: Mutex<BucketState>,
    rate: Rate,
    adaptive: bool,
}

impl Bucket {
    fn new(rate: Rate, adaptive: bool) -> Self {
        Self {
            state: Mutex::new(BucketState::full(rate)),
            rate,
            adaptive,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BucketState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An attempt of a call that took its token here was throttled.
    pub fn throttled(&self) {
        self.lock().throttled(self.adaptive);
    }

    /// The current sustained rate.
    pub fn per_second(&self) -> f64 {
        self.lock().per_second
    }
}

/// The bucket a call took its token from, held while the call is sent
/// ([`Ticket::scope`]): the attempt counter tells it of throttling answers
/// ([`throttled_here`]), retries included. None: budgets that never wait.
#[derive(Clone, Debug, Default)]
pub struct Ticket(Option<Arc<Bucket>>);

tokio::task_local! {
    static CALL: Ticket;
}

impl Ticket {
    /// Runs `call` (an SDK `send()` future, and its retries) with this ticket.
    pub fn scope<F: std::future::Future>(
        self,
        call: F,
    ) -> impl std::future::Future<Output = F::Output> {
        CALL.scope(self, call)
    }

    /// The bucket, for tests.
    pub fn bucket(&self) -> Option<&Arc<Bucket>> {
        self.0.as_ref()
    }
}

/// An attempt of the call being sent in this task was throttled: its bucket is told.
/// False when the call holds no ticket with a bucket.
pub fn throttled_here() -> bool {
    CALL.try_with(|t| match &t.0 {
        Some(b) => {
            b.throttled();
            true
        }
        None => false,
    })
    .unwrap_or(false)
}

/// Who a call counts against: the account it is about (none: the run's own
/// credentials' account, before it is known), its region, its quota.
type Key = (Option<AccountId>, Region, Quota);

/// The buckets of a run, made on first use, and the time spent waiting for tokens.
#[derive(Debug)]
pub struct Budgets<C = TokioClock> {
    clock: C,
    rates: HashMap<Quota, Rate>,
    unlimited: bool,
    buckets: Mutex<HashMap<Key, Arc<Bucket>>>,
    waited_nanos: AtomicU64,
}

impl Budgets<TokioClock> {
    /// The real clock's budgets, the defaults changed by `overrides`.
    pub fn new(overrides: &[ApiRate]) -> Self {
        Self::with_clock(TokioClock::default(), overrides)
    }
}

impl<C: Clock> Budgets<C> {
    /// Budgets on `clock`: each quota's default rate, or the last of `overrides` that
    /// names one of its APIs.
    pub fn with_clock(clock: C, overrides: &[ApiRate]) -> Self {
        let rates = overrides
            .iter()
            .map(|o| (o.api.quota(), o.rate()))
            .collect();
        Self {
            clock,
            rates,
            unlimited: false,
            buckets: Mutex::default(),
            waited_nanos: AtomicU64::new(0),
        }
    }

    /// Budgets that never wait: for a registry without quotas (a snapshot file, the
    /// in-memory model).
    pub fn unlimited(clock: C) -> Self {
        Self {
            unlimited: true,
            ..Self::with_clock(clock, &[])
        }
    }

    /// The rate of `quota` in this run.
    pub fn rate(&self, quota: Quota) -> Rate {
        self.rates
            .get(&quota)
            .copied()
            .unwrap_or_else(|| quota.default_rate())
    }

    /// Whether the bucket of `quota` adapts to throttling: an ECR API without a
    /// published rate, unless `--api-rate` pins it.
    pub fn adaptive(&self, quota: Quota) -> bool {
        matches!(quota, Quota::Ecr(api) if !matches!(api, Api::BatchGetImage | Api::PutImage))
            && !self.rates.contains_key(&quota)
    }

    /// Waits until a call of `api` about `account` in `region` may be sent, and takes
    /// its token: the ticket to send the call with. Boxed: the waiting sits inside
    /// every call's future, which stays small that way.
    pub fn take<'a>(
        &'a self,
        account: Option<&'a AccountId>,
        region: &'a Region,
        api: Api,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Ticket> + Send + 'a>> {
        Box::pin(self.take_token(account, region, api))
    }

    async fn take_token(&self, account: Option<&AccountId>, region: &Region, api: Api) -> Ticket {
        if self.unlimited {
            return Ticket(None);
        }
        let quota = api.quota();
        let bucket = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            buckets
                .entry((account.cloned(), region.clone(), quota))
                .or_insert_with(|| {
                    Arc::new(Bucket::new(
                        self.rate(quota).with_headroom(),
                        self.adaptive(quota),
                    ))
                })
                .clone()
        };
        let now = self.clock.now();
        let due = {
            let mut state = bucket.lock();
            if bucket.adaptive {
                state.recover(bucket.rate, now);
            }
            reserve(&mut state, bucket.rate, now)
        };
        if due > now {
            let wait = due - now;
            let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
            self.waited_nanos.fetch_add(nanos, Ordering::Relaxed);
            self.clock.sleep(wait).await;
        }
        Ticket(Some(bucket))
    }

    /// The time calls spent waiting for tokens so far, summed over calls.
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::clock::tests::FakeClock;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn region(r: &str) -> Region {
        Region::parse(r).unwrap()
    }

    fn account(a: &str) -> AccountId {
        AccountId::parse(a).unwrap()
    }

    /// The largest number of `times` in any window `[t, t + window)`.
    fn most_in_any_window(times: &[Duration], window: Duration) -> usize {
        times
            .iter()
            .map(|&t| times.iter().filter(|&&u| u >= t && u < t + window).count())
            .max()
            .unwrap_or(0)
    }

    fn starts(
        budgets: &Budgets<&FakeClock>,
        clock: &FakeClock,
        api: Api,
        n: usize,
    ) -> Vec<Duration> {
        let eu = region("eu-west-1");
        let mut out = Vec::new();
        block_on(async {
            for _ in 0..n {
                budgets.take(None, &eu, api).await;
                out.push((&clock).now());
            }
        });
        out
    }

    #[test]
    fn the_rate_holds_over_any_window_after_the_burst() {
        let clock = FakeClock::default();
        let budgets = Budgets::with_clock(&clock, &[]);
        // ECS service reads: a burst of 100, then 20 a second, of which the run spends
        // 90 and 18.
        let times = starts(&budgets, &clock, Api::EcsDescribeServices, 300);
        assert!(times[..90].iter().all(|t| t.is_zero()), "{times:?}");
        assert!(!times[90].is_zero());
        let after: Vec<Duration> = times[90..].to_vec();
        assert_eq!(most_in_any_window(&after, Duration::from_secs(1)), 18);
        // Over the quota in no window of a second, from the start.
        assert!(most_in_any_window(&times, Duration::from_secs(1)) <= 100 + 20);
        // 210 calls past the burst take 210 / 18 s, not more.
        let last = times[299].as_secs_f64();
        assert!((last - 210.0 / 18.0).abs() < 1e-6, "{last}");
        // Each call past the burst waited its share of a second, and that is counted.
        assert!((budgets.waited().as_secs_f64() - 210.0 / 18.0).abs() < 1e-3);
    }

    #[test]
    fn an_api_rate_sets_its_quota_for_every_api_of_the_group() {
        let rate: ApiRate = "lambda:ListAliases=5".parse().unwrap();
        let clock = FakeClock::default();
        let budgets = Budgets::with_clock(&clock, &[rate]);
        assert_eq!(budgets.rate(Quota::LambdaControlPlane), Rate::new(5.0, 5.0));
        // ListFunctions shares the quota: 4 at once, then 4.5 a second.
        let times = starts(&budgets, &clock, Api::LambdaListFunctions, 15);
        assert!(times[..4].iter().all(|t| t.is_zero()) && !times[4].is_zero());
        assert!(most_in_any_window(&times, Duration::from_secs(1)) <= 5 + 5);
        assert!(
            (times[14].as_secs_f64() - 11.0 / 4.5).abs() < 1e-6,
            "{times:?}"
        );
        // Other quotas keep their defaults.
        assert_eq!(
            budgets.rate(Quota::Ecr(Api::PutImage)),
            Rate::new(10.0, 10.0)
        );
    }

    #[test]
    fn accounts_regions_and_quotas_have_buckets_of_their_own() {
        let clock = FakeClock::default();
        // A burst of 2 (3 less the headroom), 2.7 a second.
        let rate: ApiRate = "DescribeImages=3".parse().unwrap();
        let budgets = Budgets::with_clock(&clock, &[rate]);
        let (a, b) = (account("111111111111"), account("222222222222"));
        let (eu, us) = (region("eu-west-1"), region("us-east-1"));
        block_on(async {
            for who in [Some(&a), Some(&b), None] {
                for r in [&eu, &us] {
                    budgets.take(who, r, Api::DescribeImages).await;
                    budgets.take(who, r, Api::DescribeImages).await;
                    budgets.take(who, r, Api::DescribeRepositories).await;
                }
            }
        });
        // Two tokens in each of six buckets of DescribeImages, one in each of
        // DescribeRepositories: nobody waited.
        assert!(clock.sleeps.lock().unwrap().is_empty());
        block_on(budgets.take(Some(&a), &eu, Api::DescribeImages));
        let sleeps = clock.sleeps.lock().unwrap().clone();
        assert_eq!(sleeps.len(), 1);
        assert!(
            (sleeps[0].as_secs_f64() - 1.0 / 2.7).abs() < 1e-6,
            "{sleeps:?}"
        );
    }

    #[test]
    fn waiters_are_served_in_the_order_they_asked() {
        let rate = Rate::new(2.0, 4.0);
        let mut state = BucketState::full(rate);
        // Ten callers ask at the same instant: each after the one before.
        let due: Vec<Duration> = (0..10)
            .map(|_| reserve(&mut state, rate, Duration::from_secs(1)))
            .collect();
        let secs: Vec<f64> = due.iter().map(Duration::as_secs_f64).collect();
        let expected: Vec<f64> = [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
            .iter()
            .map(|d| 1.0 + d)
            .collect();
        for (s, e) in secs.iter().zip(&expected) {
            assert!((s - e).abs() < 1e-9, "{secs:?}");
        }
        // A caller asking later, before those are due, comes after all of them.
        let late = reserve(&mut state, rate, Duration::from_millis(1500));
        assert!((late.as_secs_f64() - 3.25).abs() < 1e-9, "{late:?}");
    }

    #[test]
    fn an_idle_bucket_refills_to_its_capacity_only() {
        let rate = Rate::new(3.0, 1.0);
        let mut state = BucketState::full(rate);
        for _ in 0..3 {
            assert_eq!(reserve(&mut state, rate, Duration::ZERO), Duration::ZERO);
        }
        // An hour idle: three tokens, not 3,600.
        let hour = Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(reserve(&mut state, rate, hour), hour);
        }
        assert_eq!(
            reserve(&mut state, rate, hour),
            hour + Duration::from_secs(1)
        );
    }

    #[test]
    fn an_unpublished_api_starts_generous_halves_on_throttling_and_recovers_slowly() {
        let clock = FakeClock::default();
        let budgets = Budgets::with_clock(&clock, &[]);
        assert!(budgets.adaptive(Quota::Ecr(Api::DescribeImages)));
        // 90% of the generous default: a burst of 180 at once, nobody waits.
        let times = starts(&budgets, &clock, Api::DescribeImages, 180);
        assert!(times.iter().all(|t| t.is_zero()));
        let eu = region("eu-west-1");
        let ticket = block_on(budgets.take(None, &eu, Api::DescribeImages));
        let bucket = ticket.bucket().unwrap().clone();
        assert!((bucket.per_second() - 180.0).abs() < 1e-9);
        // Thirty calls in flight are throttled together: one halving, not thirty.
        for _ in 0..30 {
            block_on(ticket.clone().scope(async { throttled_here() }));
        }
        assert!((bucket.per_second() - 90.0).abs() < 1e-9);
        // The thirty retries are charged: the next call waits for 31 tokens at 90/s.
        clock.sleeps.lock().unwrap().clear();
        block_on(budgets.take(None, &eu, Api::DescribeImages));
        let waited = clock.sleeps.lock().unwrap()[0].as_secs_f64();
        assert!((waited - 31.0 / 90.0).abs() < 1e-3, "{waited}");
        // A storm that goes on lowers it again, down to the floor and no further.
        let rate = Rate::new(180.0, 180.0);
        let mut state = BucketState::full(rate);
        for _ in 0..20 {
            for _ in 0..200 {
                reserve(&mut state, rate, Duration::ZERO);
            }
            state.throttled(true);
        }
        assert!((state.per_second() - Adapt::LOWEST).abs() < 1e-9);
        for _ in 0..30 {
            bucket.throttled();
            for _ in 0..200 {
                block_on(budgets.take(None, &eu, Api::DescribeImages));
            }
        }
        assert!(bucket.per_second() < 90.0);
        // Then it grows back by RECOVERY_PER_SECOND each second, up to where it started.
        clock.advance(Duration::from_secs(10_000));
        block_on(budgets.take(None, &eu, Api::DescribeImages));
        let lowest = bucket.per_second();
        clock.advance(Duration::from_secs(10));
        block_on(budgets.take(None, &eu, Api::DescribeImages));
        let grown = bucket.per_second() - lowest;
        assert!(
            (grown - 10.0 * Adapt::RECOVERY_PER_SECOND).abs() < 1e-6
                || bucket.per_second() == 180.0,
            "{grown}"
        );
        clock.advance(Duration::from_secs(3600));
        block_on(budgets.take(None, &eu, Api::DescribeImages));
        assert!((bucket.per_second() - 180.0).abs() < 1e-9);
    }

    #[test]
    fn published_and_pinned_rates_do_not_adapt_but_charge_the_retry() {
        let clock = FakeClock::default();
        let pinned: ApiRate = "DescribeImages=10,10".parse().unwrap();
        let budgets = Budgets::with_clock(&clock, &[pinned]);
        assert!(!budgets.adaptive(Quota::Ecr(Api::DescribeImages)));
        assert!(!budgets.adaptive(Quota::Ecr(Api::PutImage)));
        assert!(!budgets.adaptive(Quota::Ecr(Api::BatchGetImage)));
        assert!(budgets.adaptive(Quota::Ecr(Api::ListPullTimeUpdateExclusions)));
        let eu = region("eu-west-1");
        for api in [Api::DescribeImages, Api::PutImage] {
            let ticket = block_on(budgets.take(None, &eu, api));
            let bucket = ticket.bucket().unwrap().clone();
            let before = bucket.per_second();
            block_on(ticket.scope(async { throttled_here() }));
            assert!((bucket.per_second() - before).abs() < 1e-9, "{api}");
            // Emptied, and the retry's token charged: the next call waits two tokens.
            clock.sleeps.lock().unwrap().clear();
            block_on(budgets.take(None, &eu, api));
            let waited = clock.sleeps.lock().unwrap()[0].as_secs_f64();
            assert!((waited - 2.0 / 9.0).abs() < 1e-6, "{api}: {waited}");
        }
    }

    #[test]
    fn a_throttle_outside_a_ticket_charges_nothing() {
        let clock = FakeClock::default();
        let budgets = Budgets::with_clock(&clock, &[]);
        let eu = region("eu-west-1");
        let ticket = block_on(budgets.take(None, &eu, Api::DescribeImages));
        assert!(!throttled_here());
        assert!(!block_on(async { throttled_here() }));
        assert!((ticket.bucket().unwrap().per_second() - 180.0).abs() < 1e-9);
        // Unlimited budgets give a ticket without a bucket.
        let unlimited = Budgets::unlimited(&clock);
        let none = block_on(unlimited.take(None, &eu, Api::DescribeImages));
        assert!(none.bucket().is_none());
        assert!(!block_on(none.scope(async { throttled_here() })));
    }

    #[test]
    fn unlimited_budgets_never_wait() {
        let clock = FakeClock::default();
        let budgets = Budgets::unlimited(&clock);
        starts(&budgets, &clock, Api::PutImage, 1000);
        assert!(clock.sleeps.lock().unwrap().is_empty());
        assert_eq!(budgets.waited(), Duration::ZERO);
    }

    #[test]
    fn api_rates_are_parsed_or_refused_with_a_reason() {
        let ok: ApiRate = "DescribeImages=20".parse().unwrap();
        assert_eq!(
            ok,
            ApiRate {
                api: Api::DescribeImages,
                per_second: 20.0,
                burst: None,
            }
        );
        let burst: ApiRate = "DescribeImages=2,10".parse().unwrap();
        assert_eq!(burst.rate(), Rate::new(10.0, 2.0));
        for bad in [
            "DescribeImages=2,0.5",
            "DescribeImages=2,",
            "DescribeImages=2,many",
        ] {
            assert!(
                matches!(bad.parse::<ApiRate>(), Err(ApiRateError::Burst(..))),
                "{bad}"
            );
        }
        let ecs: ApiRate = "ecs:ListTasks=0.5".parse().unwrap();
        assert_eq!(ecs.api.quota(), Quota::EcsClusterResourceRead);
        assert!(matches!(
            "DescribeImages".parse::<ApiRate>(),
            Err(ApiRateError::Shape(_))
        ));
        assert!(matches!(
            "ListImagez=3".parse::<ApiRate>(),
            Err(ApiRateError::UnknownApi(..))
        ));
        for bad in [
            "DescribeImages=0",
            "DescribeImages=-1",
            "DescribeImages=fast",
            "DescribeImages=inf",
        ] {
            assert!(
                matches!(bad.parse::<ApiRate>(), Err(ApiRateError::Rate(..))),
                "{bad}"
            );
        }
    }
}
