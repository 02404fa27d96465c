//! Test support for end-to-end tests against moto, an independent ECR
//! implementation: starts `moto_server` on a free loopback port, seeds it with the
//! AWS SDK, and runs the real `ecr-reconcile` binary against it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ecr::Client;
use sha2::{Digest as _, Sha256};

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

/// Where the test command installs moto.
fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server")
}

/// A running moto server, stopped on drop.
pub struct Moto {
    child: Child,
    pub url: String,
    pub client: Client,
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
    /// Starts moto. It fails (never skips) when moto cannot start: the test command
    /// (`scripts/test.sh`) installs it.
    pub fn start() -> Moto {
        let server = moto_server_path();
        assert!(
            server.exists(),
            "moto_server not found at {}: run scripts/test.sh, which installs moto into target/moto-venv (or set MOTO_SERVER)",
            server.display()
        );
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&server)
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
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let client = rt.block_on(async {
                    let conf = aws_sdk_ecr::Config::builder()
                        .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
                        .region(aws_sdk_ecr::config::Region::new(REGION))
                        .endpoint_url(&url)
                        .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                            "testing", "testing", None, None, "tests",
                        ))
                        .build();
                    Client::from_conf(conf)
                });
                return Moto {
                    child,
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
    pub fn run_in(&self, args: &[&str], dir: Option<&std::path::Path>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecr-reconcile"));
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        cmd.args(args)
            .args([
                "--endpoint-url",
                &self.url,
                "--region",
                REGION,
                "--color",
                "never",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_ECR")
            .stdin(Stdio::null());
        cmd.output().expect("the binary runs")
    }

    pub fn create_repository(&self, name: &str) {
        self.rt
            .block_on(self.client.create_repository().repository_name(name).send())
            .unwrap();
    }

    /// Pushes an image manifest (distinct layers per `seed`) with `tags` (none: an
    /// untagged push); returns its digest, which is sha256 of the manifest bytes.
    pub fn push_image(&self, repo: &str, seed: &str, tags: &[&str]) -> String {
        let h = |s: &str| format!("sha256:{}", hex::encode(Sha256::digest(s.as_bytes())));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": h(&format!("{repo}/{seed}/config")), "size": 1234},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h(&format!("{repo}/{seed}/layer0")), "size": 1_000_000},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h(&format!("{repo}/{seed}/layer1")), "size": 2_000_000}
            ]
        })
        .to_string();
        self.put(
            repo,
            &manifest,
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
        let digest = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(manifest.as_bytes()))
        );
        let mut pushes: Vec<Option<&str>> = tags.iter().map(|t| Some(*t)).collect();
        if pushes.is_empty() {
            pushes.push(None);
        }
        for tag in pushes {
            self.rt
                .block_on(
                    self.client
                        .put_image()
                        .repository_name(repo)
                        .image_manifest(manifest)
                        .image_manifest_media_type(media_type)
                        .image_digest(&digest)
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
        out.image_details()
            .iter()
            .map(|d| {
                let mut tags: Vec<String> = d.image_tags().to_vec();
                tags.sort();
                (d.image_digest().unwrap().to_owned(), tags)
            })
            .collect()
    }

    /// Tag -> digest of every tag in `repo`.
    pub fn tags(&self, repo: &str) -> BTreeMap<String, String> {
        self.images(repo)
            .into_iter()
            .flat_map(|(d, tags)| tags.into_iter().map(move |t| (t, d.clone())))
            .collect()
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
