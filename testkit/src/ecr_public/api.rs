//! The ECR Public API: AWS JSON 1.1, `POST /` with
//! `X-Amz-Target: SpencerFrontendService.<Operation>`, field names as the
//! aws-sdk-ecrpublic serializers write and read them.

use serde_json::{Value, json};

use super::model::{ApiError, ImageId, Repository, repository_not_found, valid_digest};
use super::{Shared, State, TARGET_PREFIX};

/// The answer to one API request: a JSON body, or an error.
pub(super) type Answer = Result<Value, ApiError>;

/// Answers `operation` (the part of `X-Amz-Target` after the prefix) with `body`,
/// on the state behind the lock.
pub(super) fn dispatch(
    shared: &Shared,
    state: &mut State,
    operation: &str,
    body: &Value,
) -> Answer {
    let ctx = Ctx {
        account: &shared.account,
        alias: &shared.alias,
        host: &shared.host,
    };
    match operation {
        "DescribeRegistries" => describe_registries(&ctx, body),
        "DescribeRepositories" => describe_repositories(&ctx, state, body),
        "CreateRepository" => create_repository(&ctx, state, body),
        "DescribeImages" => describe_images(&ctx, state, body),
        "DescribeImageTags" => describe_image_tags(&ctx, state, body),
        "BatchDeleteImage" => batch_delete_image(&ctx, state, body),
        "PutImage" => put_image(&ctx, state, body),
        "GetAuthorizationToken" => Ok(get_authorization_token(state)),
        other => Err(unknown_operation(other)),
    }
}

/// The UnknownOperationException of an operation this server does not answer.
pub(super) fn unknown_operation(target: &str) -> ApiError {
    ApiError::new(
        "UnknownOperationException",
        format!("{target} is not an operation of {TARGET_PREFIX} that this server models"),
    )
}

/// The HTTP status of an error: 500 for the server's own, 400 for the rest (AWS
/// JSON protocols answer throttling with 400 too).
pub(super) fn status_of(code: &str) -> u16 {
    match code {
        "ServerException" | "InternalFailure" => 500,
        "ServiceUnavailableException" => 503,
        _ => 400,
    }
}

struct Ctx<'a> {
    account: &'a str,
    alias: &'a str,
    host: &'a str,
}

impl Ctx<'_> {
    /// The account a request's `registryId` names when it is not this one (absent
    /// means the caller's own, this one). No other registry exists here.
    fn other_registry<'b>(&self, body: &'b Value) -> Option<&'b str> {
        body["registryId"].as_str().filter(|id| *id != self.account)
    }

    fn repository_json(&self, name: &str, repo: &Repository) -> Value {
        json!({
            "repositoryArn": format!("arn:aws:ecr-public::{}:repository/{name}", self.account),
            "registryId": self.account,
            "repositoryName": name,
            "repositoryUri": format!("{}/{}/{name}", self.host, self.alias),
            "createdAt": seconds(repo.created_at),
        })
    }
}

/// Epoch milliseconds as the epoch seconds the protocol carries.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// A required string field.
fn required<'a>(body: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    body[field].as_str().ok_or_else(|| {
        ApiError::invalid(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// `maxResults`, 1..=1000, or `default` when absent.
fn max_results(body: &Value, default: usize) -> Result<usize, ApiError> {
    match &body["maxResults"] {
        Value::Null => Ok(default),
        v => v
            .as_u64()
            .filter(|n| (1..=1000).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid parameter at 'maxResults' failed to satisfy constraint: '{v}' must be between 1 and 1000"
                ))
            }),
    }
}

/// A page token: opaque to clients, here the listing it continues and the key of
/// the last item given (so a page is not shifted by deletions between requests).
fn token(listing: &str, after: &str) -> String {
    hex::encode(format!("{listing}\n{after}"))
}

/// The key a `nextToken` continues after, if it is a token of `listing`.
fn after_token(body: &Value, listing: &str) -> Result<Option<String>, ApiError> {
    let Some(t) = body["nextToken"].as_str() else {
        return Ok(None);
    };
    hex::decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(&format!("{listing}\n")).map(str::to_owned))
        .map(Some)
        .ok_or_else(|| ApiError::invalid("Invalid parameter at 'nextToken': invalid token"))
}

/// A page of `items` (sorted by key) after `after`, and the next token.
fn page<T>(
    items: Vec<(String, T)>,
    after: Option<&str>,
    max: usize,
    listing: &str,
    key_order: impl Fn(&str, &str) -> std::cmp::Ordering,
) -> (Vec<T>, Option<String>) {
    let mut rest = items
        .into_iter()
        .filter(|(k, _)| after.is_none_or(|a| key_order(k, a).is_gt()))
        .peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < max {
        let Some((k, item)) = rest.next() else { break };
        last = Some(k);
        out.push(item);
    }
    let next = match (rest.peek(), last) {
        (Some(_), Some(last)) => Some(token(listing, &last)),
        _ => None,
    };
    (out, next)
}

/// Orders keys that are decimal sequence numbers.
fn numeric(a: &str, b: &str) -> std::cmp::Ordering {
    let n = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
    n(a).cmp(&n(b))
}

fn with_next(mut body: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        body["nextToken"] = Value::String(t);
    }
    body
}

fn describe_registries(ctx: &Ctx, body: &Value) -> Answer {
    max_results(body, 100)?;
    Ok(json!({
        "registries": [{
            "registryId": ctx.account,
            "registryArn": format!("arn:aws:ecr-public::{}:registry/{}", ctx.account, ctx.account),
            "registryUri": format!("{}/{}", ctx.host, ctx.alias),
            "verified": false,
            "aliases": [{
                "name": ctx.alias,
                "status": "ACTIVE",
                "primaryRegistryAlias": true,
                "defaultRegistryAlias": true,
            }],
        }],
    }))
}

fn describe_repositories(ctx: &Ctx, state: &State, body: &Value) -> Answer {
    let names: Option<Vec<&str>> = body["repositoryNames"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    if let Some(id) = ctx.other_registry(body) {
        return Err(ApiError::new(
            "RepositoryNotFoundException",
            format!("The registry with id '{id}' does not exist"),
        ));
    }
    let repos = &state.registry.repos;
    if let Some(names) = names {
        if !body["maxResults"].is_null() || !body["nextToken"].is_null() {
            return Err(ApiError::invalid(
                "maxResults and nextToken cannot be used with repositoryNames",
            ));
        }
        if !(1..=100).contains(&names.len()) {
            return Err(ApiError::invalid(
                "Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must have length between 1 and 100'",
            ));
        }
        let mut out = Vec::new();
        for name in names {
            let repo = repos
                .get(name)
                .ok_or_else(|| repository_not_found(name, ctx.account))?;
            out.push(ctx.repository_json(name, repo));
        }
        return Ok(json!({ "repositories": out }));
    }
    let max = max_results(body, 100)?;
    let after = after_token(body, "repositories")?;
    let items = repos
        .iter()
        .map(|(name, repo)| (name.clone(), ctx.repository_json(name, repo)))
        .collect();
    let (out, next) = page(items, after.as_deref(), max, "repositories", str::cmp);
    Ok(with_next(json!({ "repositories": out }), next))
}

fn create_repository(ctx: &Ctx, state: &mut State, body: &Value) -> Answer {
    let name = required(body, "repositoryName")?;
    state.registry.create(name, ctx.account)?;
    let repo = &state.registry.repos[name];
    Ok(json!({ "repository": ctx.repository_json(name, repo) }))
}

/// The request's repository. The operations that take one report another
/// account's registry as a missing repository (their errors have no
/// RegistryNotFoundException).
fn repository<'a>(
    ctx: &Ctx,
    state: &'a State,
    body: &Value,
) -> Result<(&'a str, &'a Repository), ApiError> {
    let name = required(body, "repositoryName")?;
    if let Some(id) = ctx.other_registry(body) {
        return Err(repository_not_found(name, id));
    }
    let (name, repo) = state
        .registry
        .repos
        .get_key_value(name)
        .ok_or_else(|| repository_not_found(name, ctx.account))?;
    Ok((name.as_str(), repo))
}

/// The `imageIds` of a request, 1..=100 of them.
fn image_ids(body: &Value) -> Result<Vec<ImageId>, ApiError> {
    let ids = body["imageIds"].as_array().ok_or_else(|| {
        ApiError::invalid(
            "1 validation error detected: Value null at 'imageIds' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if !(1..=100).contains(&ids.len()) {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{}' at 'imageIds' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1",
            ids.len()
        )));
    }
    Ok(ids
        .iter()
        .map(|id| ImageId {
            digest: id["imageDigest"].as_str().map(str::to_owned),
            tag: id["imageTag"].as_str().map(str::to_owned),
        })
        .collect())
}

fn id_json(id: &ImageId) -> Value {
    let mut v = json!({});
    if let Some(d) = &id.digest {
        v["imageDigest"] = json!(d);
    }
    if let Some(t) = &id.tag {
        v["imageTag"] = json!(t);
    }
    v
}

/// An `ImageDetail`. ECR Public has no image status and no pull time; an untagged
/// image has no `imageTags`.
fn image_detail(ctx: &Ctx, repo_name: &str, repo: &Repository, digest: &str) -> Value {
    let image = &repo.images[digest];
    let mut v = json!({
        "registryId": ctx.account,
        "repositoryName": repo_name,
        "imageDigest": digest,
        "imageSizeInBytes": image.size,
        "imagePushedAt": seconds(image.pushed_at),
        "imageManifestMediaType": image.media_type,
    });
    let tags = repo.tags_of(digest);
    if !tags.is_empty() {
        v["imageTags"] = json!(tags);
    }
    if let Some(a) = &image.artifact_media_type {
        v["artifactMediaType"] = json!(a);
    }
    v
}

fn describe_images(ctx: &Ctx, state: &State, body: &Value) -> Answer {
    let (name, repo) = repository(ctx, state, body)?;
    if !body["imageIds"].is_null() {
        if !body["maxResults"].is_null() || !body["nextToken"].is_null() {
            return Err(ApiError::invalid(
                "maxResults and nextToken cannot be used with imageIds",
            ));
        }
        let mut digests: Vec<String> = Vec::new();
        for id in image_ids(body)? {
            let digest = find_image(ctx, name, repo, &id)?;
            if !digests.contains(&digest) {
                digests.push(digest);
            }
        }
        let details: Vec<Value> = digests
            .iter()
            .map(|d| image_detail(ctx, name, repo, d))
            .collect();
        return Ok(json!({ "imageDetails": details }));
    }
    let max = max_results(body, 100)?;
    let listing = format!("images\n{name}");
    let after = after_token(body, &listing)?;
    let mut items: Vec<(u64, &String)> = repo.images.iter().map(|(d, i)| (i.seq, d)).collect();
    items.sort();
    let items = items
        .into_iter()
        .map(|(seq, d)| (seq.to_string(), image_detail(ctx, name, repo, d)))
        .collect();
    let (out, next) = page(items, after.as_deref(), max, &listing, numeric);
    Ok(with_next(json!({ "imageDetails": out }), next))
}

/// The digest an id of DescribeImages names, or ImageNotFoundException.
fn find_image(ctx: &Ctx, name: &str, repo: &Repository, id: &ImageId) -> Result<String, ApiError> {
    if let Some(d) = &id.digest
        && !valid_digest(d)
    {
        return Err(ApiError::invalid(format!(
            "Invalid parameter at 'imageDigest' failed to satisfy constraint: '{d}' must satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
        )));
    }
    let found = match (&id.tag, &id.digest) {
        (Some(t), d) => repo
            .tags
            .get(t)
            .map(|r| r.digest.clone())
            .filter(|found| d.as_ref().is_none_or(|d| d == found)),
        (None, Some(d)) => repo.images.contains_key(d).then(|| d.clone()),
        (None, None) => {
            return Err(ApiError::invalid(
                "Invalid parameter at 'imageIds': both tag and digest cannot be null",
            ));
        }
    };
    found.ok_or_else(|| {
        ApiError::new(
            "ImageNotFoundException",
            format!(
                "The image with imageId {} does not exist within the repository with name '{name}' in the registry with id '{}'",
                id_json(id),
                ctx.account
            ),
        )
    })
}

fn describe_image_tags(ctx: &Ctx, state: &State, body: &Value) -> Answer {
    let (name, repo) = repository(ctx, state, body)?;
    let max = max_results(body, 100)?;
    let listing = format!("tags\n{name}");
    let after = after_token(body, &listing)?;
    let mut items: Vec<_> = repo.tags.iter().collect();
    items.sort_by_key(|(_, r)| r.seq);
    let items = items
        .into_iter()
        .map(|(tag, r)| {
            let image = &repo.images[&r.digest];
            let mut detail = json!({
                "imageDigest": r.digest,
                "imageSizeInBytes": image.size,
                "imagePushedAt": seconds(image.pushed_at),
                "imageManifestMediaType": image.media_type,
            });
            if let Some(a) = &image.artifact_media_type {
                detail["artifactMediaType"] = json!(a);
            }
            let entry = json!({
                "imageTag": tag,
                "createdAt": seconds(r.created_at),
                "imageDetail": detail,
            });
            (r.seq.to_string(), entry)
        })
        .collect();
    let (out, next) = page(items, after.as_deref(), max, &listing, numeric);
    Ok(with_next(json!({ "imageTagDetails": out }), next))
}

fn batch_delete_image(ctx: &Ctx, state: &mut State, body: &Value) -> Answer {
    let (name, _) = repository(ctx, state, body)?;
    let name = name.to_owned();
    let ids = image_ids(body)?;
    let deleted = state.registry.delete(&name, &ids);
    let failures: Vec<Value> = deleted
        .failures
        .iter()
        .map(|f| {
            json!({
                "imageId": id_json(&f.id),
                "failureCode": f.code,
                "failureReason": f.reason,
            })
        })
        .collect();
    let ids: Vec<Value> = deleted.ids.iter().map(id_json).collect();
    Ok(json!({ "imageIds": ids, "failures": failures }))
}

fn put_image(ctx: &Ctx, state: &mut State, body: &Value) -> Answer {
    let name = required(body, "repositoryName")?;
    // PutImage takes the account or the registry's alias.
    if let Some(id) = ctx.other_registry(body).filter(|id| *id != ctx.alias) {
        return Err(ApiError::new(
            "RegistryNotFoundException",
            format!("The registry with id '{id}' does not exist"),
        ));
    }
    let manifest = required(body, "imageManifest")?;
    let put = state.registry.put(
        name,
        ctx.account,
        manifest,
        body["imageManifestMediaType"].as_str(),
        body["imageTag"].as_str(),
        body["imageDigest"].as_str(),
    )?;
    let mut id = json!({ "imageDigest": put.digest });
    if let Some(t) = body["imageTag"].as_str() {
        id["imageTag"] = json!(t);
    }
    Ok(json!({
        "image": {
            "registryId": ctx.account,
            "repositoryName": name,
            "imageId": id,
            "imageManifest": manifest,
            "imageManifestMediaType": put.media_type,
        }
    }))
}

/// A password for `AWS` (12 hours), remembered so that `/token` can check it.
fn get_authorization_token(state: &mut State) -> Value {
    use base64::Engine as _;
    state.issued += 1;
    let password = crate::moto::sha256(&format!("password {}", state.issued))
        .trim_start_matches("sha256:")
        .to_owned();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    state.passwords.insert(password);
    let expires = chrono::Utc::now().timestamp() + 12 * 3600;
    json!({
        "authorizationData": {
            "authorizationToken": token,
            "expiresAt": expires,
        }
    })
}
