//! The AWS backend: the `Registry` trait over aws-sdk-ecr. No SDK type leaves this
//! module. One client per region (the account is the `registryId` of each call),
//! the SDK's standard retry with backoff and jitter, a width of requests in flight
//! that throttling lowers, connect and operation timeouts, and counters of calls,
//! attempts and throttling.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Unreachable;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_ecr::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::operation::batch_delete_image::BatchDeleteImageError;
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageError;
use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::operation::describe_registry::DescribeRegistryError;
use aws_sdk_ecr::operation::put_image::PutImageError;
use aws_sdk_ecr::types::{DescribeImagesFilter, ImageIdentifier, ImageStatusFilter, TagStatus};
use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::Mutex;

use super::oci::OciClient;
use super::public::EcrPublicRegistry;
use super::width::Width;
use super::{
    BatchDeleteResult, BatchGetResult, CallCounters, CallCounts, FailureCode, FetchedManifest,
    ImageDetail, ImageId, ImagePage, ImageStatus, ItemFailure, MAX_PAGE_SIZE, Operation,
    PublicRegistryInfo, PutManifest, Registry, RegistryError, RemovedId, RepositoryPage,
    RetryCounts, ServiceCode,
};
use crate::model::{
    AccountId, Digest, MediaType, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag,
    media_type,
};

/// How to reach AWS.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// A named profile (`--profile`); default: the default credential chain.
    pub profile: Option<String>,
    /// An endpoint to use instead of ECR's (`--endpoint-url`; the SDK also honours
    /// `AWS_ENDPOINT_URL_ECR` and `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included (adaptive retry mode).
    pub max_attempts: u32,
    /// How long one attempt may take before it is abandoned and retried.
    pub attempt_timeout: Duration,
    /// Requests in flight at once at most (lowered while ECR throttles).
    pub max_in_flight: usize,
    /// The region given on the command line: then the SDK does not look for one
    /// (in the profile, or from the instance metadata service).
    pub region: Option<Region>,
    /// An endpoint to use instead of ECR Public's API (`--public-endpoint-url`; the
    /// SDK also honours `AWS_ENDPOINT_URL_ECR_PUBLIC`). `endpoint_url` does not
    /// apply to ECR Public.
    pub public_endpoint_url: Option<String>,
    /// ECR Public's registry, for manifest reads (`--public-registry-url`).
    pub public_registry_url: String,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            profile: None,
            endpoint_url: None,
            max_attempts: 5,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            max_in_flight: 32,
            region: None,
            public_endpoint_url: None,
            public_registry_url: super::oci::DEFAULT_PUBLIC_REGISTRY_URL.to_owned(),
        }
    }
}

/// How long one attempt may take by default.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Counts attempts (the first and every retry) and throttling answers, and holds the
/// width of requests in flight that throttling lowers.
#[derive(Debug)]
pub(super) struct AttemptCounter {
    attempts: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    pub(super) width: Width,
}

impl AttemptCounter {
    pub(super) fn new(max_in_flight: usize) -> Self {
        Self {
            attempts: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            width: Width::new(max_in_flight),
        }
    }

    /// An attempt starts.
    pub(super) fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// An answer was throttling: fewer requests in flight.
    pub(super) fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        self.width.throttled();
    }

    /// An answer was a server error.
    pub(super) fn server_error(&self) {
        self.server_errors.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone)]
pub(super) struct CountAttempts(pub(super) Arc<AttemptCounter>);

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
    ) -> Result<(), aws_sdk_ecr::error::BoxError> {
        self.0.attempt();
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_ecr::error::BoxError> {
        if let Some(response) = context.response() {
            let status = response.status().as_u16();
            let throttled = status == 429
                || (status == 400
                    && attempt_code(context) == Some(ServiceCode::ThrottlingException));
            if throttled {
                self.0.throttled();
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
/// `x-amzn-errortype` header or the body), for every operation this backend calls.
fn attempt_code(context: &FinalizerInterceptorContextRef<'_>) -> Option<ServiceCode> {
    let error = context.output_or_error()?.err()?.as_operation_error()?;
    macro_rules! code_of {
        ($($operation_error:ty),+) => {
            $(
                if let Some(e) = error.downcast_ref::<$operation_error>() {
                    return e.code().map(ServiceCode::from);
                }
            )+
        };
    }
    code_of!(
        DescribeRegistryError,
        DescribeImagesError,
        BatchGetImageError,
        BatchDeleteImageError,
        PutImageError,
        aws_sdk_ecrpublic::operation::describe_registries::DescribeRegistriesError,
        aws_sdk_ecrpublic::operation::describe_repositories::DescribeRepositoriesError,
        aws_sdk_ecrpublic::operation::describe_images::DescribeImagesError,
        aws_sdk_ecrpublic::operation::batch_delete_image::BatchDeleteImageError,
        aws_sdk_ecrpublic::operation::put_image::PutImageError,
        aws_sdk_ecrpublic::operation::get_authorization_token::GetAuthorizationTokenError
    );
    None
}

/// The registry of real ECR (or an ECR-compatible endpoint): private ECR in every
/// region, and ECR Public ([`EcrPublicRegistry`]), each call routed by the kind of
/// its repository's registry.
pub struct AwsRegistry {
    base: aws_config::SdkConfig,
    /// `--endpoint-url`: private ECR's only (the base configuration is shared with ECR
    /// Public, ECS and Lambda, which have endpoints of their own).
    endpoint_url: Option<String>,
    clients: Mutex<HashMap<Region, Client>>,
    calls: Arc<CallCounters>,
    attempts: Arc<AttemptCounter>,
    public: EcrPublicRegistry,
}

impl std::fmt::Debug for AwsRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsRegistry").finish_non_exhaustive()
    }
}

impl AwsRegistry {
    /// Loads the AWS configuration (credentials chain, profile, endpoint) once; fails
    /// only when `public_registry_url` is not an http(s) URL.
    pub async fn new(settings: &AwsSettings) -> Result<Self, String> {
        // The standard retry mode (backoff with jitter). Throttling also lowers the
        // number of requests in flight (`Width`): the SDK's adaptive mode lowers a
        // request rate instead, down to one request every two seconds under steady
        // throttling, which turns a run of thousands of requests into hours.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(settings.attempt_timeout)
                    .operation_timeout(Duration::from_secs(180))
                    .build(),
            );
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.as_str().to_owned()));
        }
        // `--endpoint-url` is private ECR's: it is given to its clients only, never
        // to ECR Public's.
        let base = loader.load().await;
        let calls = Arc::new(CallCounters::default());
        let attempts = Arc::new(AttemptCounter::new(settings.max_in_flight));
        let oci = OciClient::new(
            &settings.public_registry_url,
            settings.max_attempts,
            settings.attempt_timeout,
        )?;
        let public = EcrPublicRegistry::new(
            &base,
            settings.public_endpoint_url.as_deref(),
            oci,
            calls.clone(),
            attempts.clone(),
        );
        Ok(Self {
            base,
            endpoint_url: settings.endpoint_url.clone(),
            clients: Mutex::new(HashMap::new()),
            calls,
            attempts,
            public,
        })
    }

    /// The AWS configuration of the run (credentials, profile, retries, timeouts), for
    /// the clients of other services.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.base
    }

    /// The region of the AWS configuration (profile or environment), if any.
    pub fn configured_region(&self) -> Option<Region> {
        self.base
            .region()
            .and_then(|r| Region::parse(r.as_ref()).ok())
    }

    /// Calls made so far, by operation.
    pub fn calls(&self) -> CallCounts {
        self.calls.counts()
    }

    /// Retries and throttling so far.
    pub fn retries(&self) -> RetryCounts {
        let attempts = self.attempts.attempts.load(Ordering::Relaxed);
        let calls = self.calls.counts().total();
        RetryCounts {
            retries: attempts.saturating_sub(calls),
            throttled: self.attempts.throttled.load(Ordering::Relaxed),
            server_errors: self.attempts.server_errors.load(Ordering::Relaxed),
            width_lowered_to: self.attempts.width.lowered_to().map(|w| w as u64),
        }
    }

    async fn client(&self, region: &Region) -> Client {
        let mut clients = self.clients.lock().await;
        clients
            .entry(region.clone())
            .or_insert_with(|| {
                let mut conf = aws_sdk_ecr::config::Builder::from(&self.base)
                    .region(aws_config::Region::new(region.as_str().to_owned()))
                    .interceptor(CountAttempts(self.attempts.clone()));
                if let Some(url) = &self.endpoint_url {
                    conf = conf.endpoint_url(url);
                }
                Client::from_conf(conf.build())
            })
            .clone()
    }
}

/// Maps an SDK error: "the service said no" or "we could not ask".
pub(super) fn map_err<E, R>(err: SdkError<E, R>, repo: Option<&RepositoryRef>) -> RegistryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = ServiceCode::from(e.code().unwrap_or("Unknown"));
            let message = e.message().unwrap_or("").to_owned();
            match (code, repo) {
                (ServiceCode::RepositoryNotFoundException, Some(r)) => {
                    RegistryError::RepositoryNotFound(r.clone())
                }
                (code, _) => RegistryError::Service { code, message },
            }
        }
        SdkError::ResponseError(_) => RegistryError::Surprising(innermost(&err)),
        _ => {
            tracing::debug!(error = %aws_sdk_ecr::error::DisplayErrorContext(&err), "request failed");
            RegistryError::Unreachable(unreachable(&err))
        }
    }
}

/// Why a request that got no answer failed, typed: missing or broken credentials, a
/// failed connection, a timeout.
pub(crate) fn unreachable<E, R>(err: &SdkError<E, R>) -> Unreachable
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_credential_types::provider::error::CredentialsError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return match c {
                CredentialsError::CredentialsNotLoaded(_) => Unreachable::NoCredentials,
                _ => Unreachable::Credentials(innermost(c)),
            };
        }
        source = e.source();
    }
    match err {
        SdkError::TimeoutError(_) => Unreachable::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => Unreachable::Timeout,
        SdkError::DispatchFailure(d) if d.is_io() => Unreachable::Connect(innermost(err)),
        _ => Unreachable::Other(innermost(err)),
    }
}

/// The message of the innermost cause of `err` (the SDK's outer layers say only
/// "dispatch failure" or "service error").
pub(crate) fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

fn identifier(id: &ImageId) -> ImageIdentifier {
    match id {
        ImageId::Tag(t) => ImageIdentifier::builder().image_tag(t.as_str()).build(),
        ImageId::Digest(d) => ImageIdentifier::builder().image_digest(d.as_str()).build(),
    }
}

/// The identifier as sent, recovered from what the service echoes back.
fn echoed(id: Option<&ImageIdentifier>) -> Result<ImageId, RegistryError> {
    let id = id.ok_or_else(|| RegistryError::Surprising("a failure without an image id".into()))?;
    if let Some(t) = id.image_tag() {
        return Tag::parse(t)
            .map(ImageId::Tag)
            .map_err(|e| RegistryError::Surprising(format!("tag in response: {e}")));
    }
    match id.image_digest() {
        Some(d) => Digest::parse(d)
            .map(ImageId::Digest)
            .map_err(|e| RegistryError::Surprising(format!("digest in response: {e}"))),
        None => Err(RegistryError::Surprising(
            "an image id with neither tag nor digest".into(),
        )),
    }
}

fn failure_code(code: Option<&aws_sdk_ecr::types::ImageFailureCode>) -> FailureCode {
    code.map_or_else(
        || FailureCode::Other("Unknown".into()),
        |c| FailureCode::from(c.as_str()),
    )
}

fn failures(items: &[aws_sdk_ecr::types::ImageFailure]) -> Result<Vec<ItemFailure>, RegistryError> {
    items
        .iter()
        .map(|f| {
            Ok(ItemFailure {
                id: echoed(f.image_id())?,
                code: failure_code(f.failure_code()),
                reason: f.failure_reason().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

fn to_chrono(
    t: Option<&aws_sdk_ecr::primitives::DateTime>,
) -> Result<DateTime<Utc>, RegistryError> {
    let t = t.ok_or_else(|| RegistryError::Surprising("an image without imagePushedAt".into()))?;
    instant(t, "imagePushedAt")
}

pub(super) fn instant(
    t: &aws_sdk_ecr::primitives::DateTime,
    field: &str,
) -> Result<DateTime<Utc>, RegistryError> {
    Utc.timestamp_opt(t.secs(), t.subsec_nanos())
        .single()
        .ok_or_else(|| RegistryError::Surprising(format!("{field} out of range: {}", t.secs())))
}

/// An optional time of an image (pull, archive, restore), as reported.
fn optional_instant(
    t: Option<&aws_sdk_ecr::primitives::DateTime>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, RegistryError> {
    t.map(|t| instant(t, field)).transpose()
}

fn image_status(s: &aws_sdk_ecr::types::ImageStatus) -> ImageStatus {
    use aws_sdk_ecr::types::ImageStatus as Sdk;
    match s {
        Sdk::Active => ImageStatus::Active,
        Sdk::Archived => ImageStatus::Archived,
        Sdk::Activating => ImageStatus::Activating,
        _ => ImageStatus::Unknown,
    }
}

fn detail(d: &aws_sdk_ecr::types::ImageDetail) -> Result<ImageDetail, RegistryError> {
    let surprising = |what: &str, e: String| RegistryError::Surprising(format!("{what}: {e}"));
    let digest = Digest::parse(d.image_digest().unwrap_or_default())
        .map_err(|e| surprising("imageDigest", e))?;
    let tags = d
        .image_tags()
        .iter()
        .map(|t| Tag::parse(t.as_str()).map_err(|e| surprising("imageTags", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let subject = d
        .subject_manifest_digest()
        .map(|s| Digest::parse(s).map_err(|e| surprising("subjectManifestDigest", e)))
        .transpose()?;
    Ok(ImageDetail {
        digest,
        tags,
        pushed_at: to_chrono(d.image_pushed_at())?,
        manifest_media_type: d.image_manifest_media_type().map(MediaType::from),
        artifact_media_type: d.artifact_media_type().map(MediaType::from),
        size_bytes: d.image_size_in_bytes().and_then(|s| u64::try_from(s).ok()),
        subject,
        status: d.image_status().map(image_status),
        last_recorded_pull_time: optional_instant(
            d.last_recorded_pull_time(),
            "lastRecordedPullTime",
        )?,
        last_archived_at: optional_instant(d.last_archived_at(), "lastArchivedAt")?,
        last_activated_at: optional_instant(d.last_activated_at(), "lastActivatedAt")?,
    })
}

impl Registry for AwsRegistry {
    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        let _slot = self.attempts.width.acquire().await;
        self.calls.count(Operation::Other);
        let out = self
            .client(region)
            .await
            .describe_registry()
            .send()
            .await
            .map_err(|e| map_err(e, None))?;
        let id = out.registry_id().ok_or_else(|| {
            RegistryError::Surprising("DescribeRegistry returned no registryId".into())
        })?;
        AccountId::parse(id).map_err(RegistryError::Surprising)
    }

    async fn describe_public_registries(&self) -> Result<Vec<PublicRegistryInfo>, RegistryError> {
        self.public.describe_registries().await
    }

    async fn describe_repositories(
        &self,
        registry: &RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<RepositoryPage, RegistryError> {
        let RegistryLocation::Private { account, region } = registry else {
            return self
                .public
                .describe_repositories(registry, next_token)
                .await;
        };
        self.calls.count(Operation::Other);
        let out = self
            .client(region)
            .await
            .describe_repositories()
            .registry_id(account.as_str())
            .max_results(1000)
            .set_next_token(next_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| map_err(e, None))?;
        let names = out
            .repositories()
            .iter()
            .map(|r| {
                let name = r.repository_name().ok_or_else(|| {
                    RegistryError::Surprising("a repository without a name".into())
                })?;
                RepositoryName::parse(name).map_err(|e| {
                    RegistryError::Surprising(format!("repository name in response: {e}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RepositoryPage {
            names,
            next_token: out.next_token().map(str::to_owned),
        })
    }

    async fn describe_images(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> Result<ImagePage, RegistryError> {
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return self
                .public
                .describe_images(repo, next_token, max_results)
                .await;
        };
        let _slot = self.attempts.width.acquire().await;
        self.calls.count(Operation::DescribeImages);
        let out = self
            .client(region)
            .await
            .describe_images()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .max_results(i32::try_from(max_results.min(MAX_PAGE_SIZE)).unwrap_or(1000))
            .filter(
                DescribeImagesFilter::builder()
                    .tag_status(TagStatus::Any)
                    .image_status(ImageStatusFilter::Any)
                    .build(),
            )
            .set_next_token(next_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| map_err(e, Some(repo)))?;
        Ok(ImagePage {
            images: out
                .image_details()
                .iter()
                .map(detail)
                .collect::<Result<_, _>>()?,
            next_token: out.next_token().map(str::to_owned),
        })
    }

    async fn describe_images_of_caller(
        &self,
        region: &Region,
        name: &RepositoryName,
        max_results: u32,
    ) -> Result<(ImagePage, Option<AccountId>), RegistryError> {
        let _slot = self.attempts.width.acquire().await;
        self.calls.count(Operation::DescribeImages);
        let out = self
            .client(region)
            .await
            .describe_images()
            .repository_name(name.as_str())
            .max_results(i32::try_from(max_results.min(MAX_PAGE_SIZE)).unwrap_or(1000))
            .filter(
                DescribeImagesFilter::builder()
                    .tag_status(TagStatus::Any)
                    .image_status(ImageStatusFilter::Any)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_err(e, None))?;
        let account = out
            .image_details()
            .iter()
            .find_map(|d| d.registry_id())
            .map(|id| AccountId::parse(id).map_err(RegistryError::Surprising))
            .transpose()?;
        let page = ImagePage {
            images: out
                .image_details()
                .iter()
                .map(detail)
                .collect::<Result<_, _>>()?,
            next_token: out.next_token().map(str::to_owned),
        };
        Ok((page, account))
    }

    async fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return self.public.describe_images_by_id(repo, ids).await;
        };
        let _slot = self.attempts.width.acquire().await;
        super::check_batch(ids)?;
        self.calls.count(Operation::DescribeImages);
        let out = self
            .client(region)
            .await
            .describe_images()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .set_image_ids(Some(ids.iter().map(identifier).collect()))
            // Without it, only active images are returned: an archived one would look
            // deleted.
            .filter(
                DescribeImagesFilter::builder()
                    .image_status(ImageStatusFilter::Any)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_err(e, Some(repo)))?;
        out.image_details().iter().map(detail).collect()
    }

    async fn batch_get_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return self.public.batch_get_image(repo, ids).await;
        };
        let _slot = self.attempts.width.acquire().await;
        // Never send what ECR would refuse (and what moto answers with HTTP 500).
        super::check_batch(ids)?;
        self.calls.count(Operation::BatchGetImage);
        let mut req = self
            .client(region)
            .await
            .batch_get_image()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .set_image_ids(Some(ids.iter().map(identifier).collect()));
        for mt in media_type::ALL {
            req = req.accepted_media_types(mt);
        }
        let out = req.send().await.map_err(|e| map_err(e, Some(repo)))?;
        let mut manifests = Vec::with_capacity(out.images().len());
        for image in out.images() {
            let id = echoed(image.image_id())?;
            let digest = image
                .image_id()
                .and_then(|i| i.image_digest())
                .ok_or_else(|| {
                    RegistryError::Surprising(
                        "BatchGetImage returned an image without a digest".into(),
                    )
                })?;
            manifests.push(FetchedManifest {
                id: match (
                    &id,
                    ids.iter()
                        .find(|x| matches!((x, &id), (ImageId::Tag(a), ImageId::Tag(b)) if a == b)),
                ) {
                    (_, Some(sent)) => sent.clone(),
                    _ => ImageId::Digest(Digest::parse(digest).map_err(RegistryError::Surprising)?),
                },
                digest: Digest::parse(digest).map_err(RegistryError::Surprising)?,
                media_type: image
                    .image_manifest_media_type()
                    .unwrap_or(media_type::OCI_MANIFEST)
                    .to_owned(),
                manifest: image.image_manifest().unwrap_or_default().to_owned(),
            });
        }
        Ok(BatchGetResult {
            manifests,
            failures: failures(out.failures())?,
        })
    }

    async fn batch_delete_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return self.public.batch_delete_image(repo, ids).await;
        };
        let _slot = self.attempts.width.acquire().await;
        // Never send what ECR would refuse (and what moto answers with HTTP 500).
        super::check_batch(ids)?;
        self.calls.count(Operation::BatchDeleteImage);
        let out = self
            .client(region)
            .await
            .batch_delete_image()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .set_image_ids(Some(ids.iter().map(identifier).collect()))
            .send()
            .await
            .map_err(|e| map_err(e, Some(repo)))?;
        let mut removed = Vec::with_capacity(out.image_ids().len());
        for id in out.image_ids() {
            let digest = id.image_digest().ok_or_else(|| {
                RegistryError::Surprising("BatchDeleteImage reported an id without a digest".into())
            })?;
            removed.push(RemovedId {
                tag: id
                    .image_tag()
                    .map(Tag::parse)
                    .transpose()
                    .map_err(RegistryError::Surprising)?,
                digest: Digest::parse(digest).map_err(RegistryError::Surprising)?,
            });
        }
        Ok(BatchDeleteResult {
            removed,
            failures: failures(out.failures())?,
        })
    }

    async fn put_image(
        &self,
        repo: &RepositoryRef,
        manifest: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return self.public.put_image(repo, manifest, tag).await;
        };
        let _slot = self.attempts.width.acquire().await;
        self.calls.count(Operation::PutImage);
        let out = self
            .client(region)
            .await
            .put_image()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .image_manifest(manifest.manifest)
            .image_manifest_media_type(manifest.media_type)
            .image_digest(manifest.digest.as_str())
            .set_image_tag(tag.map(|t| t.as_str().to_owned()))
            .send()
            .await
            .map_err(|e| map_err(e, Some(repo)))?;
        // The registry computes the digest itself: it must be the one pushed.
        match out
            .image()
            .and_then(|i| i.image_id())
            .and_then(|i| i.image_digest())
        {
            Some(d) if d != manifest.digest.as_str() => Err(RegistryError::Surprising(format!(
                "PutImage stored digest {d}, not {}",
                manifest.digest
            ))),
            _ => Ok(()),
        }
    }
}
