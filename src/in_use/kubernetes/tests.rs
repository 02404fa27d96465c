use super::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn pod(extra_status: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{{"kind":"Pod",
          "metadata":{{"name":"web-1","namespace":"shop"}},
          "spec":{{"containers":[{{"name":"app","image":"{HOST}/shop/web:v3"}},
                                {{"name":"proxy","image":"envoyproxy/envoy:v1.30"}}],
                  "initContainers":[{{"name":"migrate","image":"{HOST}/shop/migrate:v3"}}],
                  "ephemeralContainers":[{{"name":"debug","image":"{HOST}/tools/debug"}}]}},
          "status":{{"containerStatuses":[{{"name":"app","image":"{HOST}/shop/web:v3",
              "imageID":"docker-pullable://{HOST}/shop/web@sha256:{HEX}"}}{extra_status}]}}}}]}}"#
    )
}

/// `(repository, tag, first 4 hex digits of the digest, where)` of each use.
fn shown(uses: &[ImageUse]) -> Vec<(String, Option<String>, Option<String>, String)> {
    uses.iter()
        .map(|u| {
            (
                u.image.repository.name.to_string(),
                u.image.tag.as_ref().map(ToString::to_string),
                u.image.digest.as_ref().map(|d| d.hex()[..4].to_owned()),
                u.site.to_string(),
            )
        })
        .collect()
}

fn s(
    a: &str,
    t: Option<&str>,
    d: Option<&str>,
    site: &str,
) -> (String, Option<String>, Option<String>, String) {
    (
        a.to_owned(),
        t.map(str::to_owned),
        d.map(str::to_owned),
        site.to_owned(),
    )
}

#[test]
fn containers_init_ephemeral_and_resolved_digests() {
    let uses = pods(&pod(""), "pods.json").unwrap();
    assert_eq!(
        shown(&uses),
        [
            s(
                "shop/web",
                Some("v3"),
                None,
                "pod shop/web-1 container app (pods.json)"
            ),
            s(
                "shop/migrate",
                Some("v3"),
                None,
                "pod shop/web-1 container migrate (init) (pods.json)"
            ),
            s(
                "tools/debug",
                Some("latest"),
                None,
                "pod shop/web-1 container debug (ephemeral) (pods.json)"
            ),
            s(
                "shop/web",
                None,
                Some("0123"),
                "pod shop/web-1 container app (pods.json)"
            ),
        ]
    );
}

/// A workload of `kind` whose pod template (at `path`, `template` or `jobTemplate`)
/// runs `image`.
fn workload(kind: &str, name: &str, image: &str, extra_meta: &str) -> String {
    let template = format!(
        r#"{{"spec":{{"containers":[{{"name":"main","image":"{HOST}/{image}"}}],
            "initContainers":[{{"name":"setup","image":"{HOST}/{image}-setup"}}]}}}}"#
    );
    let spec = match kind {
        "CronJob" => {
            format!(r#"{{"suspend":true,"jobTemplate":{{"spec":{{"template":{template}}}}}}}"#)
        }
        _ => format!(r#"{{"replicas":0,"template":{template}}}"#),
    };
    let body = if kind == "PodTemplate" {
        format!(r#""template":{template}"#)
    } else {
        format!(r#""spec":{spec}"#)
    };
    format!(
        r#"{{"apiVersion":"x/v1","kind":"{kind}","metadata":{{"name":"{name}","namespace":"prod"{extra_meta}}},{body}}}"#
    )
}

fn list(items: &[String]) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
        items.join(",")
    )
}

#[test]
fn every_workload_kind_and_its_pod_template() {
    let kinds = [
        ("Deployment", "deployment"),
        ("ReplicaSet", "replicaset"),
        ("StatefulSet", "statefulset"),
        ("DaemonSet", "daemonset"),
        ("Job", "job"),
        ("CronJob", "cronjob"),
        ("ReplicationController", "replicationcontroller"),
        ("PodTemplate", "podtemplate"),
        ("Rollout", "rollout"),
    ];
    let items: Vec<String> = kinds
        .iter()
        .map(|(k, _)| {
            workload(
                k,
                &k.to_lowercase(),
                &format!("app/{}", k.to_lowercase()),
                "",
            )
        })
        .collect();
    let (uses, skipped) = read_file(&list(&items), "all.json", None).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let got = shown(&uses);
    assert_eq!(got.len(), 2 * kinds.len(), "{got:#?}");
    for (kind, noun) in kinds {
        let repo = format!("app/{}", kind.to_lowercase());
        let name = kind.to_lowercase();
        assert!(
            got.contains(&s(
                &repo,
                Some("latest"),
                None,
                &format!("Kubernetes {noun} prod/{name} container main (all.json)")
            )),
            "{kind}: {got:#?}"
        );
        assert!(
            got.contains(&s(
                &format!("{repo}-setup"),
                Some("latest"),
                None,
                &format!("Kubernetes {noun} prod/{name} container setup (init) (all.json)")
            )),
            "{kind}: {got:#?}"
        );
    }
}

#[test]
fn a_single_object_and_one_of_each_kind_at_once() {
    // `kubectl get deploy api -o json` prints the object alone.
    let one = workload("Deployment", "api", "payments/api:v7", "");
    let uses = pods(&one, "api.json").unwrap();
    assert_eq!(
        shown(&uses)[0],
        s(
            "payments/api",
            Some("v7"),
            None,
            "Kubernetes deployment prod/api container main (api.json)"
        )
    );
    // A suspended CronJob and a Deployment at zero replicas keep their images: the
    // template is what the next run or scale-up pulls.
    let both = list(&[
        workload("CronJob", "nightly", "batch/report:v2", ""),
        workload("Deployment", "idle", "shop/idle:v1", ""),
    ]);
    let repos: Vec<String> = pods(&both, "f")
        .unwrap()
        .iter()
        .map(|u| u.site.reference.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        repos,
        ["report:v2", "report:v2-setup", "idle:v1", "idle:v1-setup"]
    );
}

#[test]
fn objects_without_a_pod_template_are_skipped_and_counted() {
    let text = list(&[
        r#"{"kind":"Service","metadata":{"name":"api"},"spec":{"ports":[]}}"#.to_owned(),
        r#"{"kind":"Service","metadata":{"name":"web"}}"#.to_owned(),
        r#"{"kind":"ConfigMap","metadata":{"name":"c"},"data":{"image":"x"}}"#.to_owned(),
        r#"{"metadata":{"name":"no-kind"}}"#.to_owned(),
        workload("Deployment", "api", "payments/api:v1", ""),
    ]);
    let (uses, skipped) = read_file(&text, "f", None).unwrap();
    assert_eq!(uses.len(), 2);
    assert_eq!(
        skipped.into_iter().collect::<Vec<_>>(),
        [
            ("(no kind)".to_owned(), 1),
            ("ConfigMap".to_owned(), 1),
            ("Service".to_owned(), 2)
        ]
    );
    let page = parse(&text).unwrap();
    assert_eq!(page.read.get("Deployment"), Some(&1));
    // A single object of another kind is skipped too, not an error.
    let (uses, skipped) =
        read_file(r#"{"kind":"Service","metadata":{"name":"x"}}"#, "f", None).unwrap();
    assert!(uses.is_empty());
    assert_eq!(skipped.get("Service"), Some(&1));
}

/// A ReplicaSet of Deployment `api` at `revision`, running `api:TAG`.
fn replicaset(name: &str, revision: &str, tag: &str) -> String {
    workload(
        "ReplicaSet",
        name,
        &format!("payments/api:{tag}"),
        &format!(
            r#","annotations":{{"deployment.kubernetes.io/revision":"{revision}"}},
               "ownerReferences":[{{"apiVersion":"apps/v1","kind":"Deployment","name":"api","controller":true}}]"#
        ),
    )
}

fn main_tags(uses: &[ImageUse]) -> Vec<String> {
    uses.iter()
        .filter(|u| u.site.container.as_deref() == Some("main"))
        .map(|u| format!("{} <- {}", u.image.tag.as_ref().unwrap(), u.site))
        .collect()
}

#[test]
fn replicasets_of_a_deployment_all_or_the_newest_n() {
    let text = list(&[
        replicaset("api-5c6d", "9", "v9"),
        replicaset("api-7d9f", "12", "v12"),
        replicaset("api-6b7c", "10", "v10"),
        // Not owned by a Deployment: always kept.
        workload("ReplicaSet", "lone", "payments/api:lone", ""),
    ]);
    let all = main_tags(&pods(&text, "rs.json").unwrap());
    assert_eq!(
        all,
        [
            "v9 <- Kubernetes deployment prod/api, ReplicaSet api-5c6d (revision 9) container main (rs.json)",
            "v12 <- Kubernetes deployment prod/api, ReplicaSet api-7d9f (revision 12) container main (rs.json)",
            "v10 <- Kubernetes deployment prod/api, ReplicaSet api-6b7c (revision 10) container main (rs.json)",
            "lone <- Kubernetes replicaset prod/lone container main (rs.json)",
        ]
    );
    // The newest two by revision, numerically (10 is newer than 9).
    let (newest, _) = read_file(&text, "rs.json", Some(2)).unwrap();
    let tags: Vec<String> = main_tags(&newest)
        .iter()
        .map(|t| t.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(tags, ["v12", "v10", "lone"]);
    let (one, _) = read_file(&text, "rs.json", Some(1)).unwrap();
    assert_eq!(main_tags(&one).len(), 2);
}

#[test]
fn a_cluster_names_itself_in_every_site() {
    let page = parse(&list(&[replicaset("api-7d9f", "12", "v12")])).unwrap();
    let found = uses(
        &page.objects,
        Place::Cluster("prod-eu"),
        None,
        Malformed::Error,
    )
    .unwrap();
    assert_eq!(
        found[0].site.to_string(),
        "Kubernetes prod-eu deployment prod/api, ReplicaSet api-7d9f (revision 12) container main"
    );
    assert_eq!(found[0].site.file, None);
    let page = parse(&pod("")).unwrap();
    let found = uses(
        &page.objects,
        Place::Cluster("prod-eu"),
        None,
        Malformed::Error,
    )
    .unwrap();
    assert_eq!(
        found[0].site.to_string(),
        "Kubernetes prod-eu pod shop/web-1 container app"
    );
}

#[test]
fn list_metadata_gives_the_next_page() {
    let page = parse(
        r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc"},"items":[]}"#,
    )
    .unwrap();
    assert_eq!(page.next.as_deref(), Some("abc"));
    assert_eq!(page.resource_version.as_deref(), Some("42"));
    let last = parse(r#"{"kind":"PodList","metadata":{"continue":""},"items":[]}"#).unwrap();
    assert_eq!(last.next, None);
}

#[test]
fn what_is_not_kubectl_json_is_an_error() {
    for text in [
        "",
        "{",
        "[]",
        "{}",
        r#"{"kind":"List"}"#,
        r#"{"kind":"List","items":{}}"#,
        r#"{"kind":"List","items":[{"kind":"Deployment","spec":{"template":"x"}}]}"#,
    ] {
        assert!(pods(text, "f").is_err(), "{text}");
    }
    let e = pods("{\n  \"items\": [,]\n}", "f").unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(
        pods(r#"{"kind":"List","items":[]}"#, "f")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_malformed_ecr_image_is_an_error_in_a_file_and_left_out_of_a_cluster() {
    let bad = pod(&format!(
        r#",{{"name":"x","imageID":"{HOST}/Bad@sha256:1"}}"#
    ));
    let e = pods(&bad, "f").unwrap_err();
    assert!(
        e.message.contains("pod shop/web-1, container x"),
        "{}",
        e.message
    );
    let page = parse(&bad).unwrap();
    let found = uses(&page.objects, Place::Cluster("c"), None, Malformed::Skip).unwrap();
    assert_eq!(found.len(), 4);
    let bad = workload("CronJob", "nightly", "Bad:v1", "");
    let e = pods(&bad, "f").unwrap_err();
    assert!(
        e.message.contains("cronjob prod/nightly, container main"),
        "{}",
        e.message
    );
    // A runtime image id without a repository is not a reference.
    let ok = pod(&format!(r#",{{"name":"x","imageID":"sha256:{HEX}"}}"#));
    assert_eq!(pods(&ok, "f").unwrap().len(), 4);
}
