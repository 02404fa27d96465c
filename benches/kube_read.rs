//! Benchmark: read a Kubernetes cluster of 5,000 pods and 2,000 ReplicaSets (500
//! Deployments with 4 each) from the test kit's loopback API server, through the
//! real kube client and a generated kubeconfig, as `in_use.kubernetes` does: every
//! kind listed cluster-wide in pages of 500, the objects turned into image uses.
//!
//! `cargo bench --bench kube_read` (sizes: `BENCH_PODS`, `BENCH_DEPLOYMENTS`; each
//! Deployment has 4 ReplicaSets). Prints the best and median of 5 reads, the calls
//! and the uses found. The figure includes the server's own work (it runs in the
//! same process, on the same cores).

use std::time::Instant;

use ecr_reconcile::config::{KubernetesCluster, Origin, Selection};
use ecr_reconcile::deployed::kubernetes::client::KubeClient;
use ecr_reconcile::ops::in_use::kubernetes::read_cluster;
use testkit::kubernetes::{self, KubeApi};

const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` only checks that it runs.
    let bench = std::env::args().any(|a| a == "--bench");
    let (pods, deployments) = if bench {
        (
            env_usize("BENCH_PODS", 5000),
            env_usize("BENCH_DEPLOYMENTS", 500),
        )
    } else {
        (10, 2)
    };
    let api = KubeApi::start();
    for i in 0..pods {
        let ns = format!("team-{}", i % 20);
        let image = format!("{REPO}/app-{}:v{}", i % 50, i % 7);
        let digest = format!("sha256:{:064x}", i);
        api.put(
            "pods",
            kubernetes::pod(&ns, &format!("web-{i}"), &image, Some(&digest)),
        );
    }
    for d in 0..deployments {
        let ns = format!("team-{}", d % 20);
        let name = format!("svc-{d}");
        api.put(
            "deployments",
            kubernetes::deployment(&ns, &name, 2, &format!("{REPO}/svc-{d}:r4")),
        );
        for r in 1..=4u64 {
            api.put(
                "replicasets",
                kubernetes::replicaset(
                    &ns,
                    &format!("{name}-{r}"),
                    &name,
                    r,
                    u32::from(r == 4) * 2,
                    &format!("{REPO}/svc-{d}:r{r}"),
                ),
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.write_kubeconfig(dir.path(), "bench");
    let cluster = KubernetesCluster {
        context: "bench".into(),
        kubeconfig: Some(kubeconfig.clone()),
        namespaces: Selection::All,
        replicasets_per_deployment: None,
        origin: Origin {
            file: "bench.yaml".into(),
            line: 1,
            column: 1,
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..if bench { 5 } else { 1 } {
        let t = Instant::now();
        let read = rt.block_on(async {
            let client = KubeClient::connect(Some(&kubeconfig), "bench")
                .await
                .unwrap();
            read_cluster(&client, &cluster).await.unwrap()
        });
        times.push(t.elapsed().as_secs_f64());
        last = Some(read);
    }
    let read = last.unwrap();
    times.sort_by(f64::total_cmp);
    println!(
        "kube_read: {pods} pods, {} ReplicaSets of {deployments} Deployments: best {:.3} s, median {:.3} s of {} reads; {} calls ({}); {} image uses",
        deployments * 4,
        times[0],
        times[times.len() / 2],
        times.len(),
        read.calls.total(),
        read.calls,
        read.uses.len()
    );
}
