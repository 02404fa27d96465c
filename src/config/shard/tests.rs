use super::*;

/// A desired state of `accounts` files, the i-th naming account `1111111111{i}` (or
/// none for `None`) with `n` repositories each.
fn desired(accounts: &[(Option<u32>, usize)]) -> DesiredState {
    let files = accounts
        .iter()
        .enumerate()
        .map(|(f, (account, n))| {
            let mut yaml = String::from("version: 1\n");
            if let Some(a) = account {
                yaml.push_str(&format!(
                    "registry:\n  account: \"{:012}\"\n  region: eu-west-1\n",
                    a
                ));
            }
            yaml.push_str("repositories:\n");
            for r in 0..*n {
                yaml.push_str(&format!("  team{f}/repo-{r:03}:\n    tags: [latest]\n"));
            }
            (format!("f{f}.yaml"), yaml.into_bytes())
        })
        .collect();
    super::super::load_sources(files).expect("valid")
}

fn names(d: &DesiredState) -> Vec<String> {
    d.repositories.iter().map(|r| r.name.to_string()).collect()
}

#[test]
fn k_of_n_is_parsed_and_checked() {
    let s = Shard::parse("2/4", ShardBy::Account).unwrap();
    assert_eq!((s.index, s.count), (2, 4));
    assert_eq!(Shard::parse("1/1", ShardBy::Repository).unwrap().index, 1);
    for bad in ["0/4", "5/4", "1/0", "2", "a/4", "1/257", "-1/2", "1/2/3"] {
        assert!(Shard::parse(bad, ShardBy::Account).is_err(), "{bad}");
    }
}

#[test]
fn the_shards_cover_every_repository_once_in_declaration_order() {
    let whole = desired(&[
        (Some(1), 7),
        (Some(2), 3),
        (None, 5),
        (Some(3), 1),
        (Some(4), 9),
    ]);
    let all = names(&whole);
    for by in [ShardBy::Account, ShardBy::Repository] {
        for count in 1..=6 {
            let mut seen = vec![None; all.len()];
            for index in 1..=count {
                let part = whole.clone().shard(Shard { index, count, by });
                let info = part.shard_info().unwrap();
                assert_eq!(info.repositories_total, all.len());
                assert_eq!(info.positions.len(), part.repositories.len());
                assert!(
                    info.positions.windows(2).all(|w| w[0] < w[1]),
                    "declaration order"
                );
                for (&p, r) in info.positions.iter().zip(&part.repositories) {
                    assert_eq!(all[p], r.name.to_string());
                    assert_eq!(seen[p].replace(index), None, "{by} {count}: {p} twice");
                }
                assert_eq!(
                    part.all_repositories().len(),
                    all.len(),
                    "the whole is kept"
                );
                assert_eq!(part.digest, whole.digest);
            }
            assert!(
                seen.iter().all(Option::is_some),
                "{by} {count}: every repository"
            );
        }
    }
}

#[test]
fn by_account_keeps_an_account_together_and_balances_the_shards() {
    let whole = desired(&[
        (Some(1), 7),
        (Some(2), 3),
        (None, 5),
        (Some(3), 1),
        (Some(4), 4),
    ]);
    let assigned = assign(&whole.repositories, 3, ShardBy::Account);
    let mut of_account: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (r, s) in whole.repositories.iter().zip(&assigned) {
        of_account.entry(account_key(r)).or_default().push(*s);
    }
    for (account, shards) in &of_account {
        assert!(
            shards.iter().all(|s| *s == shards[0]),
            "{account} split: {shards:?}"
        );
    }
    // 7 | 5 | 4, then 3 to the shard of 4 and 1 to the shard of 5: 7, 6, 7.
    let mut load = [0; 3];
    for s in assigned {
        load[s as usize] += 1;
    }
    assert_eq!(load, [7, 6, 7]);
}

#[test]
fn by_repository_spreads_one_big_account() {
    let whole = desired(&[(Some(1), 10)]);
    let by_account = assign(&whole.repositories, 4, ShardBy::Account);
    assert!(by_account.iter().all(|s| *s == 0), "one account, one shard");
    let by_repository = assign(&whole.repositories, 4, ShardBy::Repository);
    let mut load = [0; 4];
    for s in by_repository {
        load[s as usize] += 1;
    }
    assert_eq!(load, [3, 3, 2, 2]);
}

#[test]
fn the_assignment_does_not_depend_on_file_order() {
    let a = desired(&[(Some(1), 2), (Some(2), 3), (Some(3), 2)]);
    let b = desired(&[(Some(3), 2), (Some(2), 3), (Some(1), 2)]);
    for by in [ShardBy::Account, ShardBy::Repository] {
        let shard_of = |d: &DesiredState| {
            let mut m: Vec<(String, String, u32)> = d
                .repositories
                .iter()
                .zip(assign(&d.repositories, 2, by))
                .map(|(r, s)| (account_key(r), r.name.to_string(), s))
                .collect();
            m.sort();
            m
        };
        // The names differ with the file index, so compare accounts and shards.
        let strip = |v: Vec<(String, String, u32)>| -> Vec<(String, u32)> {
            v.into_iter().map(|(a, _, s)| (a, s)).collect()
        };
        assert_eq!(strip(shard_of(&a)), strip(shard_of(&b)), "{by}");
    }
}
