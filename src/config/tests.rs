//! Table-driven tests of the loader: every file rule, every directive check, every message.
//!
//! Most cases append lines to [`BASE`], a minimal valid file of 7 lines, so the first added
//! line is line 8.

use proptest::prelude::*;

use super::*;

const BASE: &str = "\
dyn_o_mite:
  listen: 127.0.0.1:8102
  dyn_listen: 127.0.0.1:8101
  stats_listen: 127.0.0.1:22222
  servers:
  - 127.0.0.1:22122:1
  tokens: '0'
";

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

/// Loads `text` as `t.yml` and renders the outcome: `ok` plus any warnings, or the error.
fn outcome(text: &str) -> String {
    match load_str(text, "t.yml") {
        Ok(c) if c.warnings.is_empty() => "ok".to_string(),
        Ok(c) => format!("ok; {}", c.warnings.join("; ")),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn check(text: &str, expected: &str) {
    assert_eq!(outcome(text), expected, "for input:\n{text}");
}

fn load_ok(text: &str) -> DynoConfig {
    load_str(text, "t.yml").unwrap_or_else(|e| panic!("{e}\nfor input:\n{text}"))
}

#[test]
fn base_is_valid() {
    check(BASE, "ok");
}

#[test]
fn file_rules() {
    let cases: &[(&str, &str)] = &[
        ("", "t.yml: the file is empty: it must hold one pool, e.g. \"dyn_o_mite:\""),
        ("# only a comment\n\n", "t.yml: the file is empty: it must hold one pool, e.g. \"dyn_o_mite:\""),
        ("dyn_o_mite:\n", "t.yml:1: the pool \"dyn_o_mite\" has no directives"),
        (
            &with("other:\n  listen: 1.2.3.4:5\n"),
            "t.yml:8: more than one top-level key: \"other\" after \"dyn_o_mite\" (line 1); \
             the file must hold exactly one pool",
        ),
        (
            "dyn_o_mite: x\n",
            "t.yml:1: the pool \"dyn_o_mite\" must be followed by indented directives",
        ),
        (
            "dyn_o_mite: {listen: x}\n",
            "t.yml:1: directive \"dyn_o_mite\" uses flow style (\"{...}\"), which is not allowed; quote it",
        ),
        (&format!("---\n{BASE}"), "t.yml:1: document markers (\"---\", \"...\") are not allowed; the file holds one pool"),
        (&with("...\n"), "t.yml:8: document markers (\"---\", \"...\") are not allowed; the file holds one pool"),
        (&format!("%YAML 1.2\n{BASE}"), "t.yml:1: YAML directives (\"%...\") are not allowed"),
        ("- a\n", "t.yml:1: a list at the top level: sequences are only allowed as the value of \"servers\" or \"dyn_seeds\""),
        (
            "dyn_o_mite:\n- 1.2.3.4:1:1\n",
            "t.yml:2: a list at the top level: sequences are only allowed as the value of \"servers\" or \"dyn_seeds\"",
        ),
        (
            &with("  rack:\n    name: r1\n"),
            "t.yml:9: nesting is too deep under directive \"rack\" (line 8): at most 2 levels are allowed",
        ),
        (
            &with("  dyn_seeds:\n  - host: 1.2.3.4\n"),
            "t.yml:9: nesting is too deep in \"dyn_seeds\": at most 2 levels are allowed",
        ),
        (
            &with("  dyn_seeds:\n  - - 1.2.3.4:1:r:d:0\n"),
            "t.yml:9: nesting is too deep in \"dyn_seeds\": at most 2 levels are allowed",
        ),
        (&with("  rack:\n  - a\n"), "t.yml:8: directive \"rack\" must be a single value, not a list"),
        (
            &with("    rack: r\n"),
            "t.yml:8: nesting is too deep or the indentation is wrong: directives must all start in the same column",
        ),
        (
            "dyn_o_mite:\n    listen: 1.2.3.4:1\n  rack: r\n",
            "t.yml:3: bad indentation: directives must all start in the same column",
        ),
        (&with("\track: r\n"), "t.yml:8: tabs are not allowed in indentation"),
        (&with("  \track: r\n"), "t.yml:8: tabs are not allowed in indentation"),
        (&with("  rack r1\n"), "t.yml:8: expected \"key: value\", found \"rack r1\""),
        (&with("  ? rack\n"), "t.yml:8: complex keys (\"? \") are not allowed"),
        ("  listen: 1.2.3.4:1\n", "t.yml:1: the pool name must start in the first column"),
        (
            &with("  dyn_seeds:\n  - 1.2.3.4:1:r:d:0\n   - 1.2.3.5:1:r:d:0\n"),
            "t.yml:10: list item of \"dyn_seeds\" is not aligned with the others",
        ),
    ];
    for (text, expected) in cases {
        check(text, expected);
    }
}

#[test]
fn scalar_styles_are_restricted() {
    let cases: &[(&str, &str)] = &[
        ("  rack: [a, b]\n", "t.yml:8: directive \"rack\" uses flow style (\"[...]\"), which is not allowed"),
        ("  hash_tag: {}\n", "t.yml:8: directive \"hash_tag\" uses flow style (\"{...}\"), which is not allowed; quote it"),
        ("  rack: &r rack1\n", "t.yml:8: directive \"rack\" has an anchor (\"&\"), which is not allowed"),
        ("  rack: *r\n", "t.yml:8: directive \"rack\" has an alias (\"*\"), which is not allowed"),
        ("  rack: !!str r\n", "t.yml:8: directive \"rack\" has a tag (\"!\"), which is not allowed"),
        ("  rack: |\n", "t.yml:8: directive \"rack\" is a multi-line block scalar, which is not allowed"),
        (
            "  dyn_seeds:\n  - [1.2.3.4:1:r:d:0]\n",
            "t.yml:9: directive \"dyn_seeds\" uses flow style (\"[...]\"), which is not allowed",
        ),
        (
            "  dyn_seeds: [1.2.3.4:1:r:d:0]\n",
            "t.yml:8: directive \"dyn_seeds\" uses flow style (\"[...]\"), which is not allowed",
        ),
        (
            "  dyn_seeds: 1.2.3.4:1:r:d:0\n",
            "t.yml:8: directive \"dyn_seeds\" must be a list: put each entry on its own \"- \" line below it",
        ),
        ("  rack: 'r1\n", "t.yml:8: invalid YAML: unclosed quote"),
        ("  rack: a: b\n", "t.yml:8: invalid YAML: mapping values are not allowed in this context"),
        ("  rack: 'a' b\n", "t.yml:8: invalid YAML: invalid trailing content after single-quoted scalar"),
        ("  rack: a\n   b\n", "t.yml:9: expected \"key: value\", found \"b\""),
        ("  rack: r # c\n  env: \"a#b\"\n", "ok"),
    ];
    for (extra, expected) in cases {
        check(&with(extra), expected);
    }
}

#[test]
fn directive_names() {
    let cases: &[(&str, &str)] = &[
        ("  dyn_listn: 1.2.3.4:1\n", "t.yml:8: directive \"dyn_listn\" is unknown (did you mean \"dyn_listen\"?)"),
        ("  Rack: r\n", "t.yml:8: directive \"Rack\" is unknown (did you mean \"rack\"?)"),
        ("  read_consistancy: DC_ONE\n", "t.yml:8: directive \"read_consistancy\" is unknown (did you mean \"read_consistency\"?)"),
        ("  redmite_requirepas: x\n", "t.yml:8: directive \"redmite_requirepas\" is unknown (did you mean \"redmite_requirepass\"?)"),
        ("  completely_unrelated: 1\n", "t.yml:8: directive \"completely_unrelated\" is unknown"),
        ("  listen: 1.2.3.4:5\n", "t.yml:8: directive \"listen\" is a duplicate (first given on line 2)"),
        (
            "  dyn_seeds:\n  - 1.2.3.4:1:r:d:0\n  dyn_seeds:\n  - 1.2.3.5:1:r:d:0\n",
            "t.yml:10: directive \"dyn_seeds\" is a duplicate (first given on line 8)",
        ),
        ("  rack:\n", "t.yml:8: directive \"rack\" has an empty value"),
        ("  rack:   # nothing\n  env: aws\n", "t.yml:8: directive \"rack\" has an empty value"),
        ("  dyn_seeds:\n  env: aws\n", "t.yml:8: directive \"dyn_seeds\" has an empty value"),
        ("  dyn_seeds:\n", "t.yml:8: directive \"dyn_seeds\" has an empty value"),
        ("  dyn_seeds:\n  -\n", "t.yml:9: directive \"dyn_seeds\" has an empty value"),
        ("  rack: ''\n", "t.yml:8: directive \"rack\" has an empty value"),
        ("  rack: ~\n", "t.yml:8: directive \"rack\" has an empty value"),
        ("  rack: null\n", "t.yml:8: directive \"rack\" has an empty value"),
        ("  rack: 'null'\n", "ok"),
        ("  dyn_seeds:\n  - ~\n", "t.yml:9: directive \"dyn_seeds\" has an empty value"),
    ];
    for (extra, expected) in cases {
        check(&with(extra), expected);
    }
}

#[test]
fn booleans_and_numbers() {
    let cases: &[(&str, &str)] = &[
        ("  preconnect: false\n", "ok"),
        ("  preconnect: 'true'\n", "ok"),
        ("  preconnect: yes\n", "t.yml:8: directive \"preconnect\" is not \"true\" or \"false\""),
        ("  enable_gossip: True\n", "t.yml:8: directive \"enable_gossip\" is not \"true\" or \"false\""),
        ("  read_repairs_enabled: 1\n", "t.yml:8: directive \"read_repairs_enabled\" is not \"true\" or \"false\""),
        ("  timeout: -1\n", "t.yml:8: directive \"timeout\" is not a number: \"-1\""),
        ("  timeout: 1.5\n", "t.yml:8: directive \"timeout\" is not a number: \"1.5\""),
        ("  timeout: 0x10\n", "t.yml:8: directive \"timeout\" is not a number: \"0x10\""),
        ("  timeout: 5s\n", "t.yml:8: directive \"timeout\" is not a number: \"5s\""),
        (
            "  timeout: 99999999999999999999999\n",
            "t.yml:8: directive \"timeout\" has an out-of-range value 99999999999999999999999: it must be between 0 and 4294967295",
        ),
        ("  backlog: 0\n", "t.yml:8: directive \"backlog\" has an out-of-range value 0: it must be between 1 and 4294967295"),
        (
            "  datastore_connections: 256\n",
            "t.yml:8: directive \"datastore_connections\" has an out-of-range value 256: it must be between 1 and 255",
        ),
        ("  mbuf_size: 1000\n", "t.yml:8: directive \"mbuf_size\" is 1000, which is not a multiple of 16"),
        ("  mbuf_size: 256\n", "t.yml:8: directive \"mbuf_size\" has an out-of-range value 256: it must be between 512 and 512000"),
        ("  mbuf_size: 512000\n", "ok"),
        ("  max_msgs: 50\n", "t.yml:8: directive \"max_msgs\" has an out-of-range value 50: it must be between 100000 and 1000000"),
        ("  max_msgs: 1000000\n", "ok"),
        ("  dyn_connections: 0\n", "t.yml:8: directive \"dyn_connections\" cannot be 0"),
        ("  dyn_port: 70000\n", "t.yml:8: directive \"dyn_port\" has an out-of-range value 70000: it must be between 0 and 65535"),
        ("  data_store: 1\n", "t.yml:8: directive \"data_store\" is 1 (memcache), which redmite does not support: it embeds a Redis-compatible store; use data_store: 0"),
        ("  data_store: 2\n", "t.yml:8: directive \"data_store\" has an invalid value 2: use 0 (redis)"),
        ("  data_store: 0\n", "ok"),
        ("  redmite_databases: 0\n", "t.yml:8: directive \"redmite_databases\" has an out-of-range value 0: it must be between 1 and 1000000"),
        ("  redmite_threads: 0\n", "t.yml:8: directive \"redmite_threads\" has an out-of-range value 0: it must be between 1 and 1024"),
        ("  redmite_threads: 1\n", "ok"),
        (
            "  redmite_maxmemory: lots\n",
            "t.yml:8: directive \"redmite_maxmemory\" is not a byte count: \"lots\" (use e.g. 0, 1048576, 100mb or 2gb)",
        ),
    ];
    for (extra, expected) in cases {
        check(&with(extra), expected);
    }
}

#[test]
fn names_and_enums() {
    let cases: &[(&str, &str)] = &[
        (
            "  read_consistency: DC_TWO\n",
            "t.yml:8: directive \"read_consistency\" has an invalid value \"DC_TWO\": use DC_ONE, DC_QUORUM, DC_SAFE_QUORUM or DC_EACH_SAFE_QUORUM",
        ),
        ("  write_consistency: dc_each_safe_quorum\n", "ok"),
        (
            "  secure_server_option: Rack\n",
            "ok; t.yml:8: directive \"secure_server_option\" has an invalid value \"Rack\" (use none, rack, datacenter, all); treating it as none",
        ),
        (
            "  hash: sha1\n",
            "t.yml:8: directive \"hash\" is not a valid hash: \"sha1\" (use one of one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins, murmur3)",
        ),
        ("  hash: Murmur\n", "t.yml:8: directive \"hash\" is not a valid hash: \"Murmur\" (use one of one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins, murmur3)"),
        ("  hash_tag: \"{\"\n", "t.yml:8: directive \"hash_tag\" is not a valid hash tag string with two characters"),
        ("  hash_tag: \"{}}\"\n", "t.yml:8: directive \"hash_tag\" is not a valid hash tag string with two characters"),
        (
            "  dyn_seed_provider: zk_provider\n",
            "t.yml:8: directive \"dyn_seed_provider\" has an invalid value \"zk_provider\" (use one of simple_provider, florida_provider, dns_provider)",
        ),
        ("  distribution: vnode\n", "ok; t.yml:8: directive \"distribution\" is deprecated and ignored"),
        ("  server_connections: 1\n", "ok; t.yml:8: directive \"server_connections\" is deprecated and ignored"),
    ];
    for (extra, expected) in cases {
        check(&with(extra), expected);
    }
}

#[test]
fn addresses_tokens_and_seeds() {
    let base_without = |key: &str| -> String {
        BASE.lines()
            .filter(|l| !l.trim_start().starts_with(key))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    check(
        &base_without("tokens"),
        "t.yml: directive \"tokens\" is missing (every node needs its ring tokens, e.g. tokens: '0')",
    );
    check(
        &base_without("dyn_listen"),
        "t.yml: directive \"dyn_listen\" is missing (the peer port, e.g. dyn_listen: 0.0.0.0:8101; Dynomite exits without it)",
    );
    check(
        &base_without("listen"),
        "t.yml: directive \"listen\" is missing (the client port, e.g. listen: 0.0.0.0:8102)",
    );
    check(
        &base_without("stats_listen"),
        "ok; t.yml: directive \"stats_listen\" is missing; using the default 0.0.0.0:22222",
    );
    let no_servers: String = BASE
        .lines()
        .filter(|l| !l.contains("22122") && !l.contains("servers"))
        .map(|l| format!("{l}\n"))
        .collect();
    check(
        &no_servers,
        "t.yml: directive \"servers\" is missing (the local datastore, e.g. servers: [\"- 127.0.0.1:22122:1\"])",
    );
    check(
        &BASE.replace("  - 127.0.0.1:22122:1\n", "  - 127.0.0.1:22122:1\n  - 127.0.0.1:22123:1\n"),
        "t.yml:7: directive \"servers\" has more than one entry: a node has exactly one local datastore",
    );
    check(
        &BASE.replace("127.0.0.1:22122:1", "127.0.0.1:22122"),
        "t.yml:6: directive \"servers\" has an invalid \"hostname:port\" format string in \"127.0.0.1:22122\"",
    );
    check(
        &BASE.replace("listen: 127.0.0.1:8102", "listen: 127.0.0.1"),
        "t.yml:2: directive \"listen\" has an invalid \"hostname:port\" format string: \"127.0.0.1\"",
    );
    check(
        &BASE.replace("dyn_listen: 127.0.0.1:8101", "dyn_listen: 127.0.0.1:81011"),
        "t.yml:3: directive \"dyn_listen\" has an invalid port in \"hostname:port\" format string: \"127.0.0.1:81011\"",
    );
    check(
        &BASE.replace("tokens: '0'", "tokens: '4294967296'"),
        "t.yml:7: directive \"tokens\" has a token out of range \"4294967296\": the maximum is 4294967295",
    );
    check(
        &BASE.replace("tokens: '0'", "tokens: '1,,2'"),
        "t.yml:7: directive \"tokens\" has an invalid token \"\": tokens are comma-separated integers",
    );
    check(
        &with("  dyn_seeds:\n  - 127.0.0.2:8101:rack\n"),
        "t.yml:9: directive \"dyn_seeds\" has an invalid seed \"127.0.0.2:8101:rack\": expected \"hostname:port:rack:dc:tokens [name]\"",
    );
    check(
        &with("  dyn_seeds:\n  - 127.0.0.2:x:r:d:0\n"),
        "t.yml:9: directive \"dyn_seeds\" has an invalid port \"x\" in seed \"127.0.0.2:x:r:d:0\"",
    );
    check(
        &with("  dyn_seeds:\n  - 127.0.0.2:1:r:d:zero\n"),
        "t.yml:9: directive \"dyn_seeds\" has an invalid token \"zero\": tokens are comma-separated integers in seed \"127.0.0.2:1:r:d:zero\"",
    );
}

#[test]
fn values_are_typed() {
    let c = load_ok(&with(
        "  read_consistency : dc_quorum\n  write_consistency : DC_SAFE_QUORUM\n",
    ));
    assert_eq!(c.read_consistency, Consistency::DcQuorum);
    assert_eq!(c.write_consistency, Consistency::DcSafeQuorum);
    assert_eq!(c.pool_name, "dyn_o_mite");
    assert_eq!(c.listen, Listen::Tcp(HostPort::new("127.0.0.1", 8102)));
    assert_eq!(
        c.stats_listen.as_ref().map(ToString::to_string).as_deref(),
        Some("127.0.0.1:22222")
    );
    assert_eq!(c.datacenter, "localdc");
    assert_eq!(c.rack, "localrack");
    assert_eq!(c.hash, HashKind::Murmur);
    assert_eq!(c.timeout, std::time::Duration::from_millis(5000));
    assert_eq!(c.mbuf_size, 16384);
    assert_eq!(c.max_msgs, 200_000);
    assert_eq!(c.databases, 16);
    assert_eq!(c.threads, None);
    assert_eq!(c.maxmemory, 0);
    assert!(c.preconnect && c.auto_eject_hosts && !c.enable_gossip && !c.read_repairs_enabled);

    let c = load_ok(&with(concat!(
        "  dyn_seeds:\n",
        "  - ::1:8101:rack2:dc2:1383429731,5 seed-a\n",
        "  - \"db.example.com:8101:rack3:dc2:0\"\n",
        "  hash_tag: \"{}\"\n",
        "  secure_server_option: datacenter\n",
        "  redmite_requirepass: 's3cret'\n",
        "  redmite_maxmemory: 2mb\n",
        "  redmite_databases: 4\n",
        "  redmite_threads: 3\n",
        "  dyn_seed_provider: dns_provider\n",
        "  # a comment line\n",
        "\n",
        "  env: network  # trailing comment\n",
    )));
    assert_eq!(
        c.dyn_seeds[0],
        Seed {
            host: "::1".into(),
            port: 8101,
            rack: "rack2".into(),
            dc: "dc2".into(),
            tokens: vec![1383429731, 5],
            name: Some("seed-a".into()),
        }
    );
    assert_eq!(c.dyn_seeds[0].addr().to_string(), "[::1]:8101");
    assert_eq!(c.dyn_seeds[1].host, "db.example.com");
    assert_eq!(c.hash_tag, Some(*b"{}"));
    assert_eq!(c.secure_server_option, SecureServerOption::Datacenter);
    assert_eq!(c.requirepass.as_deref(), Some("s3cret"));
    assert_eq!(c.maxmemory, 2 * 1024 * 1024);
    assert_eq!(c.databases, 4);
    assert_eq!(c.threads, Some(3));
    assert_eq!(c.dyn_seed_provider, SeedProvider::Dns);
    assert_eq!(c.env, "network");
}

#[test]
fn odd_but_valid_spellings() {
    // Bare integer tokens, CRLF line endings, a unix listen socket, a named server.
    let c = load_ok(
        &BASE
            .replace("tokens: '0'", "tokens: 12345,67")
            .replace("listen: 127.0.0.1:8102", "listen: /tmp/redmite.sock")
            .replace("127.0.0.1:22122:1", "localhost:22122:1 local-redis")
            .replace('\n', "\r\n"),
    );
    assert_eq!(c.tokens, vec![12345, 67]);
    assert_eq!(c.listen, Listen::Unix("/tmp/redmite.sock".into()));
    assert_eq!(
        c.server.endpoint,
        Listen::Tcp(HostPort::new("localhost", 22122))
    );
    assert_eq!(c.server.name.as_deref(), Some("local-redis"));
    // Items indented deeper than their key are fine too.
    let c = load_ok(&BASE.replace("  - 127.0.0.1:22122:1", "    - 127.0.0.1:22122:1"));
    assert_eq!(c.server.weight, 1);
}

#[test]
fn host_port_parsing_and_resolution() {
    assert_eq!(HostPort::parse("[::1]:80"), Ok(HostPort::new("::1", 80)));
    assert_eq!(
        HostPort::parse("localhost:0"),
        Ok(HostPort::new("localhost", 0))
    );
    assert!(HostPort::parse(":80").is_err());
    assert!(HostPort::parse("a:-1").is_err());
    let addr = HostPort::new("127.0.0.1", 8102).resolve().unwrap();
    assert_eq!(addr, "127.0.0.1:8102".parse().unwrap());
}

#[test]
fn enum_names_round_trip() {
    for c in Consistency::ALL {
        assert_eq!(c.as_str().parse::<Consistency>(), Ok(c));
        assert_eq!(c.as_str().to_lowercase().parse::<Consistency>(), Ok(c));
    }
    assert_eq!(HashKind::ALL.len(), 13);
    for h in HashKind::ALL {
        assert_eq!(h.as_str().parse::<HashKind>(), Ok(h));
    }
    for &s in SecureServerOption::ALL {
        assert_eq!(s.as_str().parse::<SecureServerOption>(), Ok(s));
    }
    assert!("ALL".parse::<SecureServerOption>().is_err());
    assert_eq!(
        "dc_two".parse::<Consistency>().unwrap_err().to_string(),
        "unknown consistency level \"dc_two\"; expected DC_ONE, DC_QUORUM, DC_SAFE_QUORUM or DC_EACH_SAFE_QUORUM"
    );
}

#[test]
fn memory_units() {
    for (text, bytes) in [
        ("0", Some(0)),
        ("100", Some(100)),
        ("1k", Some(1000)),
        ("1KB", Some(1024)),
        ("3gb", Some(3 << 30)),
        ("1tb", None),
        ("mb", None),
        ("-1", None),
    ] {
        assert_eq!(parse_memory(text), bytes, "{text}");
    }
}

#[test]
fn single_node_default_matches_spec() {
    let c = DynoConfig::single_node_default();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8102");
    assert_eq!(c.dyn_listen.to_string(), "127.0.0.1:8101");
    assert_eq!(
        c.stats_listen.as_ref().map(ToString::to_string).as_deref(),
        Some("127.0.0.1:22222")
    );
    assert_eq!(c.server.endpoint.to_string(), "127.0.0.1:22122");
    assert_eq!(c.tokens, vec![0]);
    assert_eq!(
        (c.datacenter.as_str(), c.rack.as_str()),
        ("localdc", "localrack")
    );
    assert_eq!(c.pool_name, "dyn_o_mite");
    assert_eq!(
        (c.read_consistency, c.write_consistency),
        (Consistency::DcOne, Consistency::DcOne)
    );
    // Every other field equals what a file with just the required directives resolves to.
    let from_file = load_ok(
        "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  dyn_listen: 127.0.0.1:8101\n  \
         stats_listen: 127.0.0.1:22222\n  servers:\n  - 127.0.0.1:22122:1\n  tokens: '0'\n",
    );
    assert_eq!(from_file, c);
}

#[test]
fn test_conf_messages() {
    let dir = std::env::temp_dir().join(format!("redmite-conf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yml");
    let bad = dir.join("bad.yml");
    std::fs::write(&good, BASE).unwrap();
    std::fs::write(&bad, with("  dyn_listn: x\n")).unwrap();
    assert_eq!(
        test_conf(&good),
        (
            true,
            format!(
                "dynomite: configuration file '{}' syntax is valid",
                good.display()
            )
        )
    );
    assert_eq!(
        test_conf(&bad),
        (
            false,
            format!(
                "dynomite: configuration file '{}' syntax is invalid",
                bad.display()
            )
        )
    );
    let err = load_file(&bad).unwrap_err();
    assert_eq!(err.line, Some(8));
    assert!(err
        .to_string()
        .starts_with(&format!("{}:8: directive \"dyn_listn\"", bad.display())));
    let missing = dir.join("missing.yml");
    let (ok, _) = test_conf(&missing);
    assert!(!ok);
    assert!(matches!(
        load_file(&missing).unwrap_err().kind,
        ErrorKind::Io(_)
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verbosity_levels() {
    let expect = [
        (0, LevelFilter::ERROR),
        (2, LevelFilter::ERROR),
        (3, LevelFilter::WARN),
        (4, LevelFilter::WARN),
        (5, LevelFilter::INFO),
        (6, LevelFilter::DEBUG),
        (7, LevelFilter::DEBUG),
        (8, LevelFilter::TRACE),
        (11, LevelFilter::TRACE),
        (255, LevelFilter::TRACE),
    ];
    for (v, level) in expect {
        assert_eq!(verbosity_to_level(v), level, "-v {v}");
    }
}

/// A valid file exercising lists, quotes, comments and the spaced colon, for mutation.
const RICH: &str = "\
# a node
dyn_o_mite:
  datacenter: dc1
  rack: rack1
  dyn_listen: 127.0.0.1:8101
  dyn_seeds:
  - 127.0.0.2:8101:rack2:dc1:0
  - 127.0.0.3:8101:rack1:dc2:0,2147483647 n3
  listen: 127.0.0.1:8102
  servers:
  - 127.0.0.1:22122:1
  tokens: '0'
  hash_tag: \"{}\"
  read_consistency : DC_QUORUM
  preconnect: true
  mbuf_size: 16384
  stats_listen: 0.0.0.0:22222
";

/// Characters that matter to YAML or to the scan, favoured by the mutations.
const SPECIAL: &[u8] = b" \t\n\r:-#'\"[]{}&*!|>%?,@`\\~0123456789";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Mutating a valid file never panics the loader: it returns Ok or Err.
    #[test]
    fn mutations_never_panic(edits in prop::collection::vec((0usize..4, any::<usize>(), any::<u8>(), any::<bool>()), 1..8)) {
        let mut bytes = RICH.as_bytes().to_vec();
        for (op, pos, byte, special) in edits {
            let b = if special { SPECIAL[byte as usize % SPECIAL.len()] } else { byte };
            let len = bytes.len();
            match op {
                0 => bytes.insert(pos % (len + 1), b),
                1 if len > 0 => { bytes.remove(pos % len); }
                2 if len > 0 => bytes[pos % len] = b,
                _ => {
                    // Duplicate, drop or move a whole line.
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let mut lines: Vec<&str> = text.split('\n').collect();
                    let i = pos % lines.len();
                    match byte % 3 {
                        0 => { let l = lines[i]; lines.insert(i, l); }
                        1 => { lines.remove(i); }
                        _ => { let l = lines.remove(i); let j = (byte as usize) % (lines.len() + 1); lines.insert(j, l); }
                    }
                    bytes = lines.join("\n").into_bytes();
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        // Whatever survives must still satisfy the resolved layer's guarantees.
        if let Ok(c) = load_str(&text, "m.yml") {
            prop_assert!(!c.tokens.is_empty());
            prop_assert!(!c.pool_name.is_empty());
            prop_assert!(c.mbuf_size % 16 == 0);
        }
    }

    /// Arbitrary short texts over YAML's special characters never panic either.
    #[test]
    fn arbitrary_yamlish_text_never_panics(chars in prop::collection::vec(prop::sample::select(SPECIAL.to_vec()), 0..64), prefix in any::<bool>()) {
        let tail = String::from_utf8_lossy(&chars).into_owned();
        let text = if prefix { format!("dyn_o_mite:\n  rack: {tail}") } else { tail };
        let _ = load_str(&text, "m.yml");
    }
}
