//! The AWS backend: the `Registry` trait over aws-sdk-ecr. No SDK type leaves this
//! module. One client per region (the account is the `registryId` of each call),
//! the SDK's standard retry with backoff and jitter, the run's budget of calls per
//! account, region and quota, a width of requests in flight, connect and operation
//! timeouts, and counters of calls, attempts and throttling.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{DescribeImagesFilter, ImageStatusFilter};

use super::ecr_answers::{any_image, detail, image_status, replication_rule};
use super::oci::OciClient;
use super::public::EcrPublicRegistry;
use super::sdk::{
    self, Meter, batch_delete_image, describe_images_page, echoed, failures, identifiers,
    image_page, put_image,
};
use super::{
    BatchDeleteResult, BatchGetResult, CallCounts, Endpoint, FetchedManifest, ImageDetail, ImageId,
    ImagePage, ImageStatus, Operation, PublicRegistryInfo, PullThroughCacheRule, PutManifest,
    Registry, RegistryError, RegistrySettings, RepositoryPage, RetryCounts,
};
use crate::aws::budget::{Api, ApiRate, Budgets};
use crate::aws::session::{AssumeRoleError, RoleSession};
use crate::aws::{Clients, CountAttempts, all_pages};
use crate::model::{
    AccountId, AccountRole, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag,
    media_type as media_types,
};

/// How to reach AWS.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// A named profile (`--profile`); default: the default credential chain.
    pub profile: Option<String>,
    /// An endpoint to use instead of ECR's (`--endpoint-url`; the SDK also honours
    /// `AWS_ENDPOINT_URL_ECR` and `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included (standard retry mode).
    pub max_attempts: u32,
    /// How long one attempt may take before it is abandoned and retried.
    pub attempt_timeout: Duration,
    /// Requests in flight at once at most (lowered while ECR throttles).
    pub max_in_flight: usize,
    /// Rates of quotas instead of the defaults (`--api-rate`).
    pub api_rates: Vec<ApiRate>,
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
            api_rates: Vec::new(),
            region: None,
            public_endpoint_url: None,
            public_registry_url: super::oci::DEFAULT_PUBLIC_REGISTRY_URL.to_owned(),
        }
    }
}

/// How long one attempt may take by default.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry of real ECR (or an ECR-compatible endpoint): private ECR in every
/// region, and ECR Public ([`EcrPublicRegistry`]), each call routed by the kind of
/// its repository's registry.
pub struct AwsRegistry {
    base: aws_config::SdkConfig,
    /// `--endpoint-url`: private ECR's only (the base configuration is shared with ECR
    /// Public, ECS and Lambda, which have endpoints of their own).
    endpoint_url: Option<String>,
    clients: Clients<Client>,
    /// The accounts with a role (`registry.role`): their calls go through the role's
    /// session, with clients of their own.
    accounts: std::collections::HashMap<AccountId, RoleAccount>,
    meter: Meter,
    public: EcrPublicRegistry,
    max_attempts: u32,
    attempt_timeout: Duration,
    /// The run's budget of calls per account, region and quota (ECS and Lambda's
    /// readers share it).
    budgets: Arc<Budgets>,
}

/// An account reached through its role: the session, the configuration that uses it
/// and the account's ECR clients.
struct RoleAccount {
    session: RoleSession,
    config: aws_config::SdkConfig,
    clients: Clients<Client>,
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
        let meter = Meter::new(settings.max_in_flight);
        let oci = OciClient::new(
            &settings.public_registry_url,
            settings.max_attempts,
            settings.attempt_timeout,
        )?;
        let public = EcrPublicRegistry::new(
            &base,
            settings.public_endpoint_url.as_deref(),
            oci,
            meter.clone(),
        );
        Ok(Self {
            base,
            endpoint_url: settings.endpoint_url.clone(),
            clients: Clients::default(),
            accounts: std::collections::HashMap::new(),
            meter,
            public,
            max_attempts: settings.max_attempts.max(1),
            attempt_timeout: settings.attempt_timeout,
            budgets: Arc::new(Budgets::new(&settings.api_rates)),
        })
    }

    /// The AWS configuration of the run (credentials, profile, retries, timeouts), for
    /// the clients of other services.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.base
    }

    /// Opens one role session per account of `roles` and assumes each role once, now:
    /// every later call about that account goes through its session. A role that
    /// cannot be assumed is the error, before any other call.
    pub async fn assume_roles(&mut self, roles: &[AccountRole]) -> Result<(), AssumeRoleError> {
        for role in roles {
            let session = RoleSession::new(&self.base, role).await;
            let config = session.config(&self.base);
            self.accounts.insert(
                role.account.clone(),
                RoleAccount {
                    session,
                    config,
                    clients: Clients::default(),
                },
            );
        }
        let checks = roles.iter().filter_map(|role| {
            let account = self.accounts.get(&role.account)?;
            Some(account.session.check(role))
        });
        futures_util::future::try_join_all(checks).await?;
        Ok(())
    }

    /// The AWS configuration of each account with a role (its session's credentials),
    /// for the clients of other services.
    pub fn account_configs(&self) -> Vec<(AccountId, aws_config::SdkConfig)> {
        let mut out: Vec<_> = self
            .accounts
            .iter()
            .map(|(a, r)| (a.clone(), r.config.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The region of the AWS configuration (profile or environment), if any.
    pub fn configured_region(&self) -> Option<Region> {
        self.base
            .region()
            .and_then(|r| Region::parse(r.as_ref()).ok())
    }

    /// Calls made so far, by operation (AssumeRole calls of every role session too).
    pub fn calls(&self) -> CallCounts {
        let mut counts = self.meter.calls.counts();
        counts.assume_role = self.accounts.values().map(|a| a.session.assumed()).sum();
        counts
    }

    /// Retries and throttling so far.
    pub fn retries(&self) -> RetryCounts {
        let calls = self.meter.calls.counts().total();
        let attempts = &self.meter.attempts;
        RetryCounts {
            retries: attempts.attempts().saturating_sub(calls),
            throttled: attempts.throttled_answers(),
            server_errors: attempts.server_errors(),
            width_lowered_to: attempts.width.lowered_to().map(|w| w as u64),
            api_wait_ms: u64::try_from(self.budgets.waited().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// `request` (an SDK `send()` future) once its token of `api`'s bucket is taken,
    /// to be sent with the bucket's ticket.
    async fn paced<F: std::future::Future>(
        &self,
        account: Option<&AccountId>,
        region: &Region,
        api: Api,
        request: F,
    ) -> impl std::future::Future<Output = F::Output> {
        self.budgets.take(account, region, api).await.scope(request)
    }

    /// The run's budget of calls, for the readers of other services.
    pub fn budgets(&self) -> Arc<Budgets> {
        self.budgets.clone()
    }

    /// The client of the run's own credentials in `region`.
    fn client(&self, region: &Region) -> Client {
        self.client_of(None, region)
    }

    /// The client for calls about `account` in `region`: through the account's role
    /// session when it has one, else with the run's own credentials.
    fn client_of(&self, account: Option<&AccountId>, region: &Region) -> Client {
        let (base, clients) = match account.and_then(|a| self.accounts.get(a)) {
            Some(role) => (&role.config, &role.clients),
            None => (&self.base, &self.clients),
        };
        clients.get(region, |region| {
            let mut conf = aws_sdk_ecr::config::Builder::from(base)
                .region(region)
                .interceptor(CountAttempts(self.meter.attempts.clone()))
                .retry_classifier(crate::aws::NoRetryForUnknownHost);
            if let Some(url) = &self.endpoint_url {
                conf = conf.endpoint_url(url);
            }
            Client::from_conf(conf.build())
        })
    }
}

impl Registry for AwsRegistry {
    fn endpoint(&self, region: &Region) -> Option<Endpoint> {
        use aws_sdk_ecr::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        use futures_util::FutureExt;
        // As the SDK picks it: the flag, the service's variable, the global one, then
        // the region's own endpoint (FIPS and dual-stack as configured).
        let configured = self
            .endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_ECR").ok())
            .or_else(|| self.base.endpoint_url().map(str::to_owned))
            .filter(|u| !u.is_empty());
        let url = match configured {
            Some(u) => u,
            None => {
                let params = Params::builder()
                    .region(region.as_str())
                    .use_fips(self.base.use_fips().unwrap_or(false))
                    .use_dual_stack(self.base.use_dual_stack().unwrap_or(false))
                    .build()
                    .ok()?;
                let resolved = DefaultResolver::new()
                    .resolve_endpoint(&params)
                    .now_or_never()?
                    .ok()?;
                resolved.url().to_owned()
            }
        };
        Some(Endpoint {
            url,
            max_attempts: self.max_attempts,
            attempt_timeout: self.attempt_timeout,
        })
    }

    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        let request = self.client(region).describe_registry().send();
        let request = self
            .paced(None, region, Api::DescribeRegistry, request)
            .await;
        let out = self.meter.call(Operation::Other, None, request).await?;
        let id = out.registry_id().ok_or_else(|| {
            RegistryError::Surprising("DescribeRegistry returned no registryId".into())
        })?;
        AccountId::parse(id).map_err(|e| RegistryError::Surprising(e.to_string()))
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
        let request = self
            .client_of(Some(account), region)
            .describe_repositories()
            .registry_id(account.as_str())
            .max_results(1000)
            .set_next_token(next_token.map(str::to_owned))
            .send();
        let request = self
            .paced(Some(account), region, Api::DescribeRepositories, request)
            .await;
        let out = self.meter.call(Operation::Other, None, request).await?;
        let names = out
            .repositories()
            .iter()
            .map(|r| {
                let name = r.repository_name().ok_or_else(|| {
                    RegistryError::Surprising("a repository without a name".into())
                })?;
                RepositoryName::parse(name)
                    .map_err(|e| sdk::surprising("repository name in response", e))
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
        let request = describe_images_page!(
            self.client_of(Some(account), region),
            account,
            repo,
            next_token,
            max_results
        )
        .filter(any_image())
        .send();
        let request = self
            .paced(Some(account), region, Api::DescribeImages, request)
            .await;
        let out = self
            .meter
            .call(Operation::DescribeImages, Some(repo), request)
            .await?;
        Ok(image_page!(out, detail))
    }

    async fn describe_images_of_caller(
        &self,
        region: &Region,
        name: &RepositoryName,
        max_results: u32,
    ) -> Result<(ImagePage, Option<AccountId>), RegistryError> {
        let request = self
            .client(region)
            .describe_images()
            .repository_name(name.as_str())
            .max_results(i32::try_from(max_results.min(super::MAX_PAGE_SIZE)).unwrap_or(1000))
            .filter(any_image())
            .send();
        let request = self.paced(None, region, Api::DescribeImages, request).await;
        let out = self
            .meter
            .call(Operation::DescribeImages, None, request)
            .await?;
        let account = out
            .image_details()
            .iter()
            .find_map(|d| d.registry_id())
            .map(|id| AccountId::parse(id).map_err(|e| RegistryError::Surprising(e.to_string())))
            .transpose()?;
        Ok((image_page!(out, detail), account))
    }

    async fn registry_settings(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> Result<RegistrySettings, RegistryError> {
        let client = self.client_of(Some(account), region);
        let described = async {
            let ticket = self
                .budgets
                .take(Some(account), region, Api::DescribeRegistry)
                .await;
            self.meter
                .call(
                    Operation::RegistrySettings,
                    None,
                    ticket.scope(client.describe_registry().send()),
                )
                .await
        };
        let rules = all_pages(|next| {
            let client = &client;
            async move {
                let request = client
                    .describe_pull_through_cache_rules()
                    .registry_id(account.as_str())
                    .max_results(1000)
                    .set_next_token(next)
                    .send();
                let request = self
                    .paced(
                        Some(account),
                        region,
                        Api::DescribePullThroughCacheRules,
                        request,
                    )
                    .await;
                let page = self
                    .meter
                    .call(Operation::RegistrySettings, None, request)
                    .await?;
                let rules = page
                    .pull_through_cache_rules()
                    .iter()
                    .filter_map(|r| {
                        Some(PullThroughCacheRule {
                            prefix: r.ecr_repository_prefix()?.to_owned(),
                            upstream: r.upstream_registry_url().unwrap_or_default().to_owned(),
                        })
                    })
                    .collect();
                Ok::<_, RegistryError>((rules, page.next_token().map(str::to_owned)))
            }
        });
        let (described, rules) = futures_util::future::join(described, rules).await;
        let described = described?;
        // DescribeRegistry describes the caller's own registry only: another account's
        // replication is not known (the plan says none).
        let replication = if described.registry_id() == Some(account.as_str()) {
            described
                .replication_configuration()
                .map(|c| c.rules().iter().map(replication_rule).collect())
                .transpose()?
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(RegistrySettings {
            replication,
            pull_through_cache_rules: rules?,
            unreadable: None,
        })
    }

    async fn caller_principal(&self) -> Result<Option<String>, RegistryError> {
        let conf = aws_sdk_sts::config::Builder::from(&self.base)
            .retry_classifier(crate::aws::NoRetryForUnknownHost)
            .build();
        let request = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send();
        let out = self
            .meter
            .call(Operation::RegistrySettings, None, request)
            .await?;
        Ok(out.arn().map(str::to_owned))
    }

    async fn pull_time_exclusions(
        &self,
        account: &AccountId,
        region: &Region,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let client = self.client_of(Some(account), region);
        let principals = all_pages(|next| {
            let client = &client;
            async move {
                let request = client
                    .list_pull_time_update_exclusions()
                    .max_results(1000)
                    .set_next_token(next)
                    .send();
                let request = self
                    .paced(
                        Some(account),
                        region,
                        Api::ListPullTimeUpdateExclusions,
                        request,
                    )
                    .await;
                let page = self
                    .meter
                    .call(Operation::RegistrySettings, None, request)
                    .await?;
                Ok::<_, RegistryError>((
                    page.pull_time_update_exclusions().to_vec(),
                    page.next_token().map(str::to_owned),
                ))
            }
        })
        .await?;
        // The exclusions are the caller's own registry's: another account's cannot be
        // listed this way.
        let _ = account;
        Ok(Some(principals))
    }

    async fn get_lifecycle_policy(
        &self,
        repo: &RepositoryRef,
    ) -> Result<Option<String>, RegistryError> {
        // ECR Public has no lifecycle policies.
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return Ok(None);
        };
        let request = self
            .client_of(Some(account), region)
            .get_lifecycle_policy()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .send();
        let ticket = self
            .budgets
            .take(Some(account), region, Api::GetLifecyclePolicy)
            .await;
        match self
            .meter
            .call(
                Operation::GetLifecyclePolicy,
                Some(repo),
                ticket.scope(request),
            )
            .await
        {
            Ok(out) => Ok(out.lifecycle_policy_text().map(str::to_owned)),
            Err(RegistryError::Service {
                code: super::ServiceCode::LifecyclePolicyNotFoundException,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn update_image_storage_class(
        &self,
        repo: &RepositoryRef,
        digest: &Digest,
        target: super::StorageClass,
    ) -> Result<ImageStatus, RegistryError> {
        use aws_sdk_ecr::types::{ImageIdentifier, TargetStorageClass};
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return Err(RegistryError::service(
                super::ServiceCode::ImageStorageClassUpdateNotSupportedException,
                "ECR Public has no archive storage class",
            ));
        };
        let request = self
            .client(region)
            .update_image_storage_class()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .image_id(
                ImageIdentifier::builder()
                    .image_digest(digest.as_str())
                    .build(),
            )
            .target_storage_class(match target {
                super::StorageClass::Archive => TargetStorageClass::Archive,
                super::StorageClass::Standard => TargetStorageClass::Standard,
            })
            .send();
        let request = self
            .paced(Some(account), region, Api::UpdateImageStorageClass, request)
            .await;
        let out = self
            .meter
            .call(Operation::UpdateImageStorageClass, Some(repo), request)
            .await?;
        // No status in the answer: the change was made, the next read says where it is.
        Ok(out.image_status().map_or(
            match target {
                super::StorageClass::Archive => ImageStatus::Archived,
                super::StorageClass::Standard => ImageStatus::Activating,
            },
            image_status,
        ))
    }

    async fn tag_mutability(
        &self,
        repo: &RepositoryRef,
    ) -> Result<super::TagMutability, RegistryError> {
        use super::{TagMutability, TagMutabilitySetting};
        // ECR Public has no tag immutability.
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return Ok(TagMutability::default());
        };
        let request = self
            .client_of(Some(account), region)
            .describe_repositories()
            .registry_id(account.as_str())
            .repository_names(repo.name.as_str())
            .send();
        let request = self
            .paced(Some(account), region, Api::DescribeRepositories, request)
            .await;
        let out = self
            .meter
            .call(Operation::TagMutability, Some(repo), request)
            .await?;
        let Some(found) = out
            .repositories()
            .iter()
            .find(|r| r.repository_name() == Some(repo.name.as_str()))
        else {
            return Err(RegistryError::RepositoryNotFound(repo.clone()));
        };
        let setting = match found.image_tag_mutability() {
            None => TagMutabilitySetting::Mutable,
            Some(m) => TagMutabilitySetting::from_ecr_str(m.as_str()).ok_or_else(|| {
                RegistryError::Surprising(format!(
                    "imageTagMutability `{}` of {repo} is not one this version knows",
                    m.as_str()
                ))
            })?,
        };
        let filters = found
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| f.filter().to_owned())
            .collect();
        Ok(TagMutability::with_exclusions(setting, filters))
    }

    async fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        let RegistryLocation::Private { account, region } = &repo.registry else {
            return self.public.describe_images_by_id(repo, ids).await;
        };
        super::check_batch(ids)?;
        let request = self
            .client_of(Some(account), region)
            .describe_images()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .set_image_ids(identifiers(ids))
            // Without it, only active images are returned: an archived one would look
            // deleted.
            .filter(
                DescribeImagesFilter::builder()
                    .image_status(ImageStatusFilter::Any)
                    .build(),
            )
            .send();
        let request = self
            .paced(Some(account), region, Api::DescribeImages, request)
            .await;
        let out = self
            .meter
            .call(Operation::DescribeImages, Some(repo), request)
            .await?;
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
        // Never send what ECR would refuse (and what moto answers with HTTP 500).
        super::check_batch(ids)?;
        let mut req = self
            .client_of(Some(account), region)
            .batch_get_image()
            .registry_id(account.as_str())
            .repository_name(repo.name.as_str())
            .set_image_ids(identifiers(ids));
        for mt in media_types::ALL {
            req = req.accepted_media_types(mt);
        }
        let ticket = self
            .budgets
            .take(Some(account), region, Api::BatchGetImage)
            .await;
        let out = self
            .meter
            .call(
                Operation::BatchGetImage,
                Some(repo),
                ticket.scope(req.send()),
            )
            .await?;
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
                    _ => ImageId::Digest(
                        Digest::parse(digest)
                            .map_err(|e| RegistryError::Surprising(e.to_string()))?,
                    ),
                },
                digest: Digest::parse(digest)
                    .map_err(|e| RegistryError::Surprising(e.to_string()))?,
                media_type: image
                    .image_manifest_media_type()
                    .unwrap_or(media_types::OCI_MANIFEST)
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
        let ticket = self
            .budgets
            .take(Some(account), region, Api::BatchDeleteImage)
            .await;
        ticket
            .scope(async {
                batch_delete_image!(
                    self.meter,
                    Operation::BatchDeleteImage,
                    self.client_of(Some(account), region),
                    account,
                    repo,
                    ids
                )
            })
            .await
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
        let ticket = self
            .budgets
            .take(Some(account), region, Api::PutImage)
            .await;
        ticket
            .scope(async {
                put_image!(
                    self.meter,
                    Operation::PutImage,
                    self.client_of(Some(account), region),
                    account,
                    repo,
                    manifest,
                    tag
                )
            })
            .await
    }
}
