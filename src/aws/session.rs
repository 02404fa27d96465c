//! One role session per account and run: the credentials of an IAM role (`registry.role`),
//! assumed through STS with aws-config's assume-role provider, chained from the run's own
//! credentials. Every client of the account (ECR in each region, ECS, Lambda) shares the
//! session, which assumes the role again only when its credentials come within
//! [`REFRESH_BEFORE_EXPIRY`] of their expiry, and counts the AssumeRole calls it made.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

use crate::model::{AccountId, AccountRole};

/// How long before their expiry a session's credentials are renewed: a long call that
/// starts with them still ends before they expire.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The role session name, as CloudTrail shows it.
pub const SESSION_NAME: &str = "ecr-reconcile";

/// A role could not be assumed: the run stops before any call about its account.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot assume role {role} for account {account}: {reason}")]
pub struct AssumeRoleError {
    /// The account.
    pub account: AccountId,
    /// The role's ARN.
    pub role: String,
    /// Why, in STS's words (or the connection's).
    pub reason: String,
}

/// The credentials of one account's role, shared by every client of that account.
#[derive(Clone, Debug)]
pub struct RoleSession {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
    assumed: AtomicU64,
}

impl RoleSession {
    /// The session of `role`, chained from the credentials of `base` (whose STS
    /// endpoint, `AWS_ENDPOINT_URL_STS` or `AWS_ENDPOINT_URL`, and region it uses;
    /// us-east-1 when it has none). Nothing is called yet.
    pub async fn new(base: &aws_config::SdkConfig, role: &AccountRole) -> Self {
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.role.as_str())
            .configure(base)
            .session_name(SESSION_NAME);
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id);
        }
        if base.region().is_none() {
            builder = builder.region(aws_config::Region::from_static("us-east-1"));
        }
        Self::over(builder.build().await)
    }

    /// A session over any provider of temporary credentials (tests give a short-lived
    /// one).
    pub fn over(provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider: SharedCredentialsProvider::new(provider),
                cached: tokio::sync::Mutex::new(None),
                assumed: AtomicU64::new(0),
            }),
        }
    }

    /// The session's credentials: those held while they are more than
    /// [`REFRESH_BEFORE_EXPIRY`] from expiry, else new ones (one call at a time: the
    /// clients waiting meanwhile get the new ones too).
    pub async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && fresh(c, SystemTime::now())
        {
            return Ok(c.clone());
        }
        self.inner.assumed.fetch_add(1, Ordering::Relaxed);
        let c = self.inner.provider.provide_credentials().await?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// Assumes the role now (the run's first call about the account), so that a role
    /// that cannot be assumed stops the run before anything else.
    pub async fn check(&self, role: &AccountRole) -> Result<(), AssumeRoleError> {
        self.credentials()
            .await
            .map(|_| ())
            .map_err(|e| AssumeRoleError {
                account: role.account.clone(),
                role: role.role.to_string(),
                reason: reason(&e),
            })
    }

    /// How many times the role was assumed (AssumeRole calls, the failed included).
    pub fn assumed(&self) -> u64 {
        self.inner.assumed.load(Ordering::Relaxed)
    }

    /// `base` with this session's credentials instead of its own.
    pub fn config(&self, base: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        base.to_builder()
            .credentials_provider(SharedCredentialsProvider::new(self.clone()))
            .build()
    }
}

/// True when `c` does not expire within [`REFRESH_BEFORE_EXPIRY`] of `now`.
fn fresh(c: &Credentials, now: SystemTime) -> bool {
    c.expiry()
        .is_none_or(|expiry| expiry > now + REFRESH_BEFORE_EXPIRY)
}

/// STS's own words: the innermost cause (the outer layers say "provider error" or
/// "service error").
fn reason(e: &CredentialsError) -> String {
    use aws_sdk_sts::error::ProvideErrorMetadata;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError as Refused;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<Refused>() {
            return match (refused.code(), refused.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => refused.to_string(),
            };
        }
        cause = c.source();
    }
    let why = super::innermost(e);
    if why.is_empty() { e.to_string() } else { why }
}

impl ProvideCredentials for RoleSession {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::future::ProvideCredentials as Fut;

    /// A provider of credentials that expire `lifetime` after they are given, counting
    /// how many it gave.
    #[derive(Debug)]
    struct ShortLived {
        lifetime: Duration,
        given: Arc<AtomicU64>,
    }

    impl ProvideCredentials for ShortLived {
        fn provide_credentials<'a>(&'a self) -> Fut<'a>
        where
            Self: 'a,
        {
            let n = self.given.fetch_add(1, Ordering::Relaxed);
            Fut::ready(Ok(Credentials::new(
                format!("ASIA{n}"),
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + self.lifetime),
                "test",
            )))
        }
    }

    fn session(lifetime: Duration) -> (RoleSession, Arc<AtomicU64>) {
        let given = Arc::new(AtomicU64::new(0));
        let provider = ShortLived {
            lifetime,
            given: given.clone(),
        };
        (RoleSession::over(provider), given)
    }

    fn block<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn credentials_far_from_expiry_are_reused() {
        block(async {
            let (s, given) = session(Duration::from_secs(3600));
            let a = s.credentials().await.unwrap();
            let b = s.credentials().await.unwrap();
            assert_eq!(a.access_key_id(), b.access_key_id());
            assert_eq!((given.load(Ordering::Relaxed), s.assumed()), (1, 1));
        });
    }

    #[test]
    fn credentials_close_to_expiry_are_renewed_before_they_expire() {
        block(async {
            // Valid for one more minute: inside the margin, so the next call renews them.
            let (s, given) = session(Duration::from_secs(60));
            let a = s.credentials().await.unwrap();
            let b = s.credentials().await.unwrap();
            assert_ne!(a.access_key_id(), b.access_key_id());
            assert_eq!((given.load(Ordering::Relaxed), s.assumed()), (2, 2));
        });
    }

    #[test]
    fn clients_of_one_account_share_the_session() {
        block(async {
            let (s, given) = session(Duration::from_secs(3600));
            let base = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build();
            let (one, two) = (s.config(&base), s.config(&base));
            for conf in [one, two] {
                let provider = conf.credentials_provider().unwrap();
                provider.provide_credentials().await.unwrap();
            }
            assert_eq!(given.load(Ordering::Relaxed), 1);
        });
    }

    #[test]
    fn a_refused_role_names_its_account_and_role() {
        block(async {
            let s = RoleSession::over(aws_credential_types::credential_fn::provide_credentials_fn(
                || async {
                    Err(CredentialsError::provider_error(
                        "AccessDenied: not authorized to perform sts:AssumeRole",
                    ))
                },
            ));
            let role = AccountRole {
                account: AccountId::parse("222222222222".to_owned()).unwrap(),
                role: crate::model::RoleArn::parse("arn:aws:iam::222222222222:role/x").unwrap(),
                external_id: None,
            };
            let e = s.check(&role).await.unwrap_err();
            assert_eq!(e.account.as_str(), "222222222222");
            assert!(
                e.to_string().contains("arn:aws:iam::222222222222:role/x"),
                "{e}"
            );
            assert!(e.reason.contains("AccessDenied"), "{e}");
        });
    }
}
