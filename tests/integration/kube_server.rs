//! The test kit's loopback Kubernetes API server, driven by the real kube client
//! through a generated kubeconfig: the list endpoints of every kind the in-use reader
//! lists, pages with `limit` and `continue` over a consistent snapshot, 410 Gone for
//! an expired continue token, `resourceVersion`, 403 per namespace and bearer tokens.

use serde_json::Value;
use testkit::kubernetes::{self, KubeApi, RESOURCES};

const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web:v1";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A kube client for `kubeconfig` (YAML), through its current context.
async fn client(kubeconfig: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn get(client: &kube::Client, path: &str) -> Result<Value, kube::Error> {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let text = client.request_text(request).await?;
    Ok(serde_json::from_str(&text).unwrap())
}

fn api_error(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("not an API error: {other}"),
    }
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["metadata"]["namespace"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn pages_follow_limit_and_continue_over_one_snapshot() {
    let api = KubeApi::start();
    for (ns, name) in [
        ("a", "p1"),
        ("a", "p2"),
        ("b", "p3"),
        ("b", "p4"),
        ("c", "p5"),
    ] {
        api.put("pods", kubernetes::pod(ns, name, IMAGE, None));
    }
    runtime().block_on(async {
        let c = client(&api.kubeconfig("test")).await;
        let first = get(&c, "/api/v1/pods?limit=2").await.unwrap();
        assert_eq!(first["kind"], "PodList");
        assert_eq!(names(&first), ["a/p1", "a/p2"]);
        // Items carry no kind, as the API server sends them.
        assert!(first["items"][0].get("kind").is_none());
        assert_eq!(first["metadata"]["remainingItemCount"], 3);
        let version = first["metadata"]["resourceVersion"].clone();
        assert_eq!(version, "5");
        // A change after the first page is not in the rest of this list.
        api.put("pods", kubernetes::pod("a", "p0", IMAGE, None));
        let token = first["metadata"]["continue"].as_str().unwrap();
        let second = get(&c, &format!("/api/v1/pods?limit=2&continue={token}"))
            .await
            .unwrap();
        assert_eq!(names(&second), ["b/p3", "b/p4"]);
        assert_eq!(second["metadata"]["resourceVersion"], version);
        let token = second["metadata"]["continue"].as_str().unwrap();
        let last = get(&c, &format!("/api/v1/pods?limit=2&continue={token}"))
            .await
            .unwrap();
        assert_eq!(names(&last), ["c/p5"]);
        assert!(last["metadata"].get("continue").is_none());
        // A new list sees the change; one namespace lists only its own.
        let all = get(&c, "/api/v1/pods").await.unwrap();
        assert_eq!(names(&all).len(), 6);
        assert_eq!(all["metadata"]["resourceVersion"], "6");
        let b = get(&c, "/api/v1/namespaces/b/pods").await.unwrap();
        assert_eq!(names(&b), ["b/p3", "b/p4"]);
        // resourceVersion beside continue is refused, as the API server does.
        let again = get(&c, "/api/v1/pods?limit=1").await.unwrap();
        let token = again["metadata"]["continue"].as_str().unwrap();
        let e = get(
            &c,
            &format!("/api/v1/pods?limit=1&continue={token}&resourceVersion=6"),
        )
        .await
        .unwrap_err();
        assert_eq!(api_error(e).0, 400);
    });
    assert_eq!(
        api.calls()["/api/v1/pods"],
        6,
        "failed requests are counted too"
    );
}

#[test]
fn an_expired_continue_token_is_410_gone() {
    let api = KubeApi::start();
    for name in ["p1", "p2", "p3"] {
        api.put("pods", kubernetes::pod("a", name, IMAGE, None));
    }
    api.expire_continues(1);
    runtime().block_on(async {
        let c = client(&api.kubeconfig("test")).await;
        let first = get(&c, "/api/v1/pods?limit=1").await.unwrap();
        let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
        let e = get(&c, &format!("/api/v1/pods?limit=1&continue={token}"))
            .await
            .unwrap_err();
        let (code, reason, _) = api_error(e);
        assert_eq!((code, reason.as_str()), (410, "Expired"));
        // A new list works again (only one continue was to expire).
        let first = get(&c, "/api/v1/pods?limit=2").await.unwrap();
        let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
        let rest = get(&c, &format!("/api/v1/pods?limit=2&continue={token}"))
            .await
            .unwrap();
        assert_eq!(names(&rest), ["a/p3"]);
    });
}

#[test]
fn a_forbidden_namespace_is_403_and_so_is_the_cluster_scope() {
    let api = KubeApi::start();
    api.put(
        "deployments",
        kubernetes::deployment("shop", "web", 1, IMAGE),
    );
    api.forbid("secret");
    runtime().block_on(async {
        let c = client(&api.kubeconfig("test")).await;
        let shop = get(&c, "/apis/apps/v1/namespaces/shop/deployments")
            .await
            .unwrap();
        assert_eq!(names(&shop), ["shop/web"]);
        let (code, reason, message) = api_error(
            get(&c, "/apis/apps/v1/namespaces/secret/deployments")
                .await
                .unwrap_err(),
        );
        assert_eq!((code, reason.as_str()), (403, "Forbidden"));
        assert!(
            message.contains(
                "cannot list resource \"deployments\" in API group \"apps\" in the namespace \"secret\""
            ),
            "{message}"
        );
        let (code, _, message) =
            api_error(get(&c, "/apis/apps/v1/deployments").await.unwrap_err());
        assert_eq!(code, 403);
        assert!(message.ends_with("at the cluster scope"), "{message}");
    });
}

#[test]
fn only_an_accepted_bearer_token_gets_an_answer() {
    let api = KubeApi::start();
    runtime().block_on(async {
        let wrong = client(&api.kubeconfig_with("test", "token: not-the-token")).await;
        let (code, reason, _) = api_error(get(&wrong, "/api/v1/pods").await.unwrap_err());
        assert_eq!((code, reason.as_str()), (401, "Unauthorized"));
        api.accept_token("not-the-token");
        assert!(get(&wrong, "/api/v1/pods").await.is_ok());
    });
}

#[test]
fn every_kind_is_listed_at_its_path_and_unknown_paths_are_404() {
    let api = KubeApi::start();
    for (plural, _, _) in RESOURCES {
        let object = match plural {
            "pods" => kubernetes::pod("x", "o", IMAGE, Some("sha256:00")),
            "cronjobs" => kubernetes::cronjob("x", "o", IMAGE, true),
            _ => kubernetes::with_template("x", "o", IMAGE),
        };
        api.put(plural, object);
    }
    runtime().block_on(async {
        let c = client(&api.kubeconfig("test")).await;
        for (plural, prefix, kind) in RESOURCES {
            for path in [
                format!("{prefix}/{plural}"),
                format!("{prefix}/namespaces/x/{plural}"),
            ] {
                let list = get(&c, &path).await.unwrap();
                assert_eq!(list["kind"], format!("{kind}List"), "{path}");
                assert_eq!(names(&list), ["x/o"], "{path}");
            }
        }
        let (code, _, _) = api_error(get(&c, "/apis/apps/v1/widgets").await.unwrap_err());
        assert_eq!(code, 404);
    });
    // The cluster rolls a Deployment out as its controller does.
    api.put("deployments", kubernetes::deployment("x", "api", 1, IMAGE));
    api.cluster().rollout("x", "api", "shop/web:v2");
    runtime().block_on(async {
        let c = client(&api.kubeconfig("test")).await;
        let sets = get(&c, "/apis/apps/v1/namespaces/x/replicasets")
            .await
            .unwrap();
        let api_sets: Vec<&Value> = sets["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["metadata"]["name"] == "api-r1")
            .collect();
        assert_eq!(
            api_sets[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "1"
        );
    });
}
