//! End-to-end tests against moto, an independent ECR implementation: starts
//! `moto_server` on a free loopback port, seeds it with the AWS SDK, and runs the real
//! `ecr-reconcile` binary against it.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ecr::Client;
use sha2::{Digest as _, Sha256};

use crate::Binary;

/// The region the binary is pointed at (unless a test passes `--region`).
pub const REGION: &str = "eu-west-1";
/// The account moto answers for.
pub const ACCOUNT: &str = "123456789012";

/// Where the test command installs moto: `target/moto-venv` of the workspace root
/// (`scripts/test.sh`), unless `MOTO_SERVER` names another.
fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test kit lives in the workspace root");
    root.join("target/moto-venv/bin/moto_server")
}

/// moto's server handles each request on a thread of its own, and its ECR model is
/// not safe for that: BatchDeleteImage deletes by a list index found before it took
/// effect, so two requests to one repository at once can remove a tag from the wrong
/// image (ECR has no such race). The harness runs moto's own entry point with
/// threading off, through the Python interpreter named in the script's `#!` line: one
/// request at a time, each on a fresh connection. It also loads the test kit's
/// plugin (`moto_plugin.py`), which adds the ECR calls moto lacks.
fn serial_moto(server: &Path) -> Command {
    const SERIAL: &str = "import sys, moto.server as s\n\
        run = s.run_simple\n\
        def serial(*a, **k):\n    k['threaded'] = False\n    return run(*a, **k)\n\
        s.run_simple = serial\n\
        s.main(sys.argv[1:])\n";
    const PLUGIN: &str = include_str!("moto_plugin.py");
    match interpreter(server) {
        Some(python) => {
            let mut cmd = Command::new(python);
            cmd.args(["-c", &format!("{PLUGIN}\n{SERIAL}")]);
            cmd
        }
        _ => Command::new(server),
    }
}

/// The Python interpreter named in the `#!` line of a script (`moto_server`), if it
/// is a path that exists.
fn interpreter(script: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(script).ok()?;
    let first = text.lines().next()?.strip_prefix("#!")?.trim();
    // `#!/usr/bin/env python3` and the like: not a path to run with -c directly.
    let path = PathBuf::from(first);
    (!first.contains(' ') && path.exists()).then_some(path)
}

/// The Python interpreter moto is installed for (it has boto3 too), if known.
pub fn python() -> Option<PathBuf> {
    interpreter(&moto_server_path())
}

/// A running moto server, stopped on drop.
pub struct Moto {
    child: Child,
    binary: Binary,
    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub url: String,
    /// An SDK client of it, with test credentials.
    pub client: Client,
    /// The runtime that drives `client`.
    pub rt: tokio::runtime::Runtime,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// Starts moto, for tests of `binary`. It fails (never skips) when moto cannot
    /// start: the test command (`scripts/test.sh`) installs it.
    pub fn start(binary: Binary) -> Moto {
        let server = moto_server_path();
        assert!(
            server.exists(),
            "moto_server not found at {}: run scripts/test.sh, which installs moto into target/moto-venv (or set MOTO_SERVER)",
            server.display()
        );
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = serial_moto(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut up = false;
            while Instant::now() < deadline {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if up {
                let url = format!("http://127.0.0.1:{port}");
                let (rt, client) = sdk_client(&url);
                return Moto {
                    child,
                    binary,
                    url,
                    client,
                    rt,
                };
            }
            last_err = format!("moto did not listen on port {port} within 30 s");
            let mut child = child;
            let _ = child.kill();
        }
        panic!("{last_err}");
    }

    /// Runs the binary with this server as the ECR endpoint.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(args, None)
    }

    /// Runs the binary in `dir` (for default journal paths).
    pub fn run_in(&self, args: &[&str], dir: Option<&Path>) -> Output {
        self.binary
            .command(&self.url, args, dir)
            .output()
            .expect("the binary runs")
    }

    /// Runs a Python script with boto3 against this server, for the services the SDK
    /// client here does not cover (ECS, Lambda, IAM): `client(name)` makes a client of
    /// the server with test credentials in [`REGION`]. Returns what the script prints;
    /// panics with its error output when it fails.
    pub fn boto3(&self, script: &str) -> String {
        let python = python().expect("the Python interpreter of moto (it has boto3)");
        let prelude = format!(
            "import boto3, json\n\
             def client(name):\n    return boto3.client(name, endpoint_url={url:?}, region_name={REGION:?}, aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            url = self.url
        );
        let out = Command::new(&python)
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            out.status.success(),
            "boto3 script failed:\n{script}\n{}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Seeds each account of `accounts` with `repositories` repositories named
    /// `prefix` + their number, of `images` images each (tags `build-0`, ...): one
    /// request per account to the test kit plugin's SeedRepositories, signed with the
    /// credentials of a role in the account (moto's STS gives credentials that act in
    /// the account of the role's ARN), instead of a PutImage call per image.
    pub fn seed_repositories(
        &self,
        accounts: &[String],
        prefix: &str,
        repositories: usize,
        images: usize,
    ) {
        self.boto3(&format!(
            r#"
import urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
for account in {accounts:?}:
    c = client('sts').assume_role(RoleArn=f'arn:aws:iam::{{account}}:role/seed', RoleSessionName='seed')['Credentials']
    body = json.dumps({{'prefix': {prefix:?}, 'repositories': {repositories}, 'images': {images}}})
    request = AWSRequest(method='POST', url={url:?} + '/', data=body, headers={{'X-Amz-Target': 'AmazonEC2ContainerRegistry_V20150921.SeedRepositories', 'Content-Type': 'application/x-amz-json-1.1'}})
    SigV4Auth(Credentials(c['AccessKeyId'], c['SecretAccessKey'], c['SessionToken']), 'ecr', {REGION:?}).add_auth(request)
    answer = json.loads(urllib.request.urlopen(urllib.request.Request(request.url, data=body.encode(), headers=dict(request.headers), method='POST')).read())
    assert answer['images'] == {repositories} * {images}, answer
"#,
            url = self.url,
        ));
    }

    /// The binary under test.
    pub fn binary(&self) -> &Binary {
        &self.binary
    }

    /// Empties moto (every repository and image), as a fresh server would be.
    pub fn reset(&self) {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        // HTTP/1.0 from a single-threaded server.
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "moto reset: {answer}"
        );
    }

    /// Pushes many images at once: (seed, tags) each, seeds distinct; returns their
    /// digests in order.
    ///
    /// In rounds: every image's first tag (or its untagged push), then every second
    /// tag, and so on, 16 requests at a time. moto's PutImage looks for the manifest
    /// and then adds an image without a lock, so two concurrent pushes of one manifest
    /// (two tags of one image) can both miss it and leave two records of one digest,
    /// each with one of the tags, which ECR never has; in a round every request is of
    /// another image.
    pub fn push_many(&self, repo: &str, images: &[(String, Vec<String>)]) -> Vec<String> {
        let seeds: std::collections::BTreeSet<&String> = images.iter().map(|(s, _)| s).collect();
        assert_eq!(seeds.len(), images.len(), "push_many: seeds repeat");
        let rounds = images
            .iter()
            .map(|(_, t)| t.len().max(1))
            .max()
            .unwrap_or(0);
        for round in 0..rounds {
            let puts: Vec<(String, Option<String>)> = images
                .iter()
                .filter_map(|(seed, tags)| {
                    let tag = match tags.get(round) {
                        Some(t) => Some(t.clone()),
                        None if tags.is_empty() && round == 0 => None,
                        None => return None,
                    };
                    Some((image_manifest(repo, seed), tag))
                })
                .collect();
            self.rt.block_on(async {
                for chunk in puts.chunks(16) {
                    let sends = chunk.iter().map(|(manifest, tag)| {
                        self.client
                            .put_image()
                            .repository_name(repo)
                            .image_manifest(manifest)
                            .image_manifest_media_type("application/vnd.oci.image.manifest.v1+json")
                            .image_digest(sha256(manifest))
                            .set_image_tag(tag.clone())
                            .send()
                    });
                    for r in futures_util::future::join_all(sends).await {
                        r.unwrap_or_else(|e| {
                            panic!("put_image: {}", aws_sdk_ecr::error::DisplayErrorContext(&e))
                        });
                    }
                }
            });
        }
        images
            .iter()
            .map(|(seed, _)| sha256(&image_manifest(repo, seed)))
            .collect()
    }

    /// Creates a repository.
    pub fn create_repository(&self, name: &str) {
        self.rt
            .block_on(self.client.create_repository().repository_name(name).send())
            .unwrap();
    }

    /// Creates a repository with this `imageTagMutability` (`IMMUTABLE`,
    /// `IMMUTABLE_WITH_EXCLUSION`, ...) and wildcard exclusion filters.
    pub fn create_repository_with_mutability(&self, name: &str, setting: &str, filters: &[&str]) {
        use aws_sdk_ecr::types::{
            ImageTagMutability, ImageTagMutabilityExclusionFilter,
            ImageTagMutabilityExclusionFilterType,
        };
        let filters: Vec<ImageTagMutabilityExclusionFilter> = filters
            .iter()
            .map(|f| {
                ImageTagMutabilityExclusionFilter::builder()
                    .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                    .filter(*f)
                    .build()
                    .unwrap()
            })
            .collect();
        self.rt
            .block_on(
                self.client
                    .create_repository()
                    .repository_name(name)
                    .image_tag_mutability(ImageTagMutability::from(setting))
                    .set_image_tag_mutability_exclusion_filters(
                        (!filters.is_empty()).then_some(filters),
                    )
                    .send(),
            )
            .unwrap();
    }

    /// Pushes an image manifest (distinct layers per `seed`) with `tags` (none: an
    /// untagged push); returns its digest, which is sha256 of the manifest bytes.
    pub fn push_image(&self, repo: &str, seed: &str, tags: &[&str]) -> String {
        self.put(
            repo,
            &image_manifest(repo, seed),
            "application/vnd.oci.image.manifest.v1+json",
            tags,
        )
    }

    /// Pushes an OCI index of `children` with `tags`; returns its digest.
    pub fn push_index(&self, repo: &str, children: &[&str], tags: &[&str]) -> String {
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": c,
                    "size": 500,
                    "platform": {"architecture": if i == 0 { "amd64" } else { "arm64" }, "os": "linux"}
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests
        })
        .to_string();
        self.put(
            repo,
            &manifest,
            "application/vnd.oci.image.index.v1+json",
            tags,
        )
    }

    fn put(&self, repo: &str, manifest: &str, media_type: &str, tags: &[&str]) -> String {
        let digest = sha256(manifest);
        let mut pushes: Vec<Option<&str>> = tags.iter().map(|t| Some(*t)).collect();
        if pushes.is_empty() {
            pushes.push(None);
        }
        for tag in pushes {
            put_image(&self.rt, &self.client, repo, manifest, media_type, tag);
        }
        digest
    }

    /// Digest -> sorted tags of every image in `repo`.
    pub fn images(&self, repo: &str) -> BTreeMap<String, Vec<String>> {
        let out = self
            .rt
            .block_on(
                self.client
                    .describe_images()
                    .repository_name(repo)
                    .max_results(1000)
                    .send(),
            )
            .unwrap();
        let mut images = BTreeMap::new();
        for d in out.image_details() {
            let mut tags: Vec<String> = d.image_tags().to_vec();
            tags.sort();
            let digest = d.image_digest().unwrap().to_owned();
            // One record per digest, as in ECR: a second one is moto's, from pushes of
            // one manifest at once, and would be hidden here.
            if let Some(first) = images.insert(digest.clone(), tags.clone()) {
                panic!("moto lists image {digest} in {repo} twice: tags {first:?} and {tags:?}");
            }
        }
        images
    }

    /// Tag -> digest of every tag in `repo`.
    pub fn tags(&self, repo: &str) -> BTreeMap<String, String> {
        self.images(repo)
            .into_iter()
            .flat_map(|(d, tags)| tags.into_iter().map(move |t| (t, d.clone())))
            .collect()
    }
}

/// An SDK client of `url` with test credentials, and a runtime to drive it.
fn sdk_client(url: &str) -> (tokio::runtime::Runtime, Client) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let conf = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new(REGION))
            .endpoint_url(url)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .build();
        Client::from_conf(conf)
    });
    (rt, client)
}

/// Another client of the same registry, usable from any thread (a racing pusher).
pub struct Seeder {
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Seeder {
    /// A client of the registry at `url`, with test credentials.
    pub fn new(url: &str) -> Seeder {
        let (rt, client) = sdk_client(url);
        Seeder { rt, client }
    }

    /// PutImage of an image manifest with `tag` (or untagged).
    pub fn put(&self, repo: &str, manifest: &str, tag: Option<&str>) {
        put_image(
            &self.rt,
            &self.client,
            repo,
            manifest,
            "application/vnd.oci.image.manifest.v1+json",
            tag,
        );
    }
}

/// PutImage of `manifest` with its sha256 digest, under `tag` (or untagged).
fn put_image(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    repo: &str,
    manifest: &str,
    media_type: &str,
    tag: Option<&str>,
) {
    rt.block_on(
        client
            .put_image()
            .repository_name(repo)
            .image_manifest(manifest)
            .image_manifest_media_type(media_type)
            .image_digest(sha256(manifest))
            .set_image_tag(tag.map(str::to_owned))
            .send(),
    )
    .unwrap_or_else(|e| {
        panic!(
            "put_image {repo} {tag:?}: {}",
            aws_sdk_ecr::error::DisplayErrorContext(&e)
        )
    });
}

/// sha256 of a manifest, as a digest.
pub fn sha256(manifest: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(manifest.as_bytes()))
    )
}

/// An image manifest with layers of its own for each (repository, seed).
pub fn image_manifest(repo: &str, seed: &str) -> String {
    let h = |s: &str| sha256(s);
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": h(&format!("{repo}/{seed}/config")), "size": 1234},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h(&format!("{repo}/{seed}/layer0")), "size": 1_000_000},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h(&format!("{repo}/{seed}/layer1")), "size": 2_000_000}
        ]
    })
    .to_string()
}

/// Bytes the binary printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
