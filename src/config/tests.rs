//! Tests of the configuration layer, on string literals.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;

use super::diag::Diagnostics;
use super::exporting::split_section;
use super::*;

fn defaults() -> Defaults {
    Defaults { hostname: "box".to_string(), plugins_dir: PathBuf::from("/usr/lib/netdata/plugins.d") }
}

fn source(name: &str, text: &str) -> Source {
    Source { name: name.to_string(), text: text.to_string() }
}

/// Parse `main` (named `rrdpipe.conf`) and, if given, `exporting` (named `exporting.conf`).
fn parse2(main: &str, exporting: Option<&str>) -> Result<Loaded, Errors> {
    parse(source("rrdpipe.conf", main), exporting.map(|t| source("exporting.conf", t)), &defaults())
}

fn ok(main: &str) -> Loaded {
    parse2(main, None).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}

fn errors(main: &str) -> Vec<String> {
    match parse2(main, None) {
        Ok(loaded) => panic!("expected errors, got {loaded:?}"),
        Err(e) => e.errors,
    }
}

fn error(main: &str) -> String {
    let errors = errors(main);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors[0].clone()
}

fn localhost(port: u16) -> Endpoint {
    Endpoint { udp: false, host: "localhost".to_string(), port }
}

fn legacy_defaults() -> ExporterConfig {
    ExporterConfig {
        name: "backend".to_string(),
        section: "backend".to_string(),
        file: "rrdpipe.conf".to_string(),
        line: 1,
        legacy: true,
        kind: ConnectorKind::Graphite,
        enabled: false,
        destinations: vec![localhost(2003)],
        data_source: DataSource::Average,
        prefix: "netdata".to_string(),
        hostname: None,
        update_every: 10,
        buffer_on_failures: 10,
        spool_directory: None,
        spool_max_size: 1 << 30,
        timeout_ms: 20_000,
        send_charts_matching: "*".to_string(),
        send_hosts_matching: "localhost *".to_string(),
        send_names_instead_of_ids: false,
        send_configured_labels: false,
        send_automatic_labels: false,
        remote_write_url_path: "/receive".to_string(),
        username: None,
        password: None,
        tls_ca_file: None,
        tls_skip_verify: false,
        max_buffer_bytes: 128 << 20,
        replay_window_s: 0,
    }
}

// ---------------------------------------------------------------- defaults

#[test]
fn an_empty_file_gives_every_default() {
    let loaded = ok("");
    assert_eq!(loaded.warnings, Vec::<String>::new());
    assert_eq!(
        loaded.config,
        Config {
            file: PathBuf::from("rrdpipe.conf"),
            global: Global {
                hostname: "box".to_string(),
                update_every: 1,
                history: 3600,
                log_level: "info".to_string(),
            },
            db: Database {
                cleanup_obsolete_charts_after: 3600,
                cleanup_orphan_hosts_after: 3600,
                ..Database::default()
            },
            directories: Directories {
                config: PathBuf::from("."),
                stock_config: PathBuf::from("/usr/lib/netdata/conf.d"),
                plugins: vec![
                    PathBuf::from("/usr/lib/netdata/plugins.d"),
                    PathBuf::from("./custom-plugins.d")
                ],
                log: PathBuf::from("/var/log/netdata"),
                cache: PathBuf::from("/var/cache/netdata"),
                lib: PathBuf::from("/var/lib/netdata"),
                lock: PathBuf::from("/var/lib/netdata/lock"),
                web: PathBuf::from("/usr/share/netdata/web"),
                home: PathBuf::from("/var/lib/netdata"),
                host_prefix: PathBuf::new(),
                set_at: BTreeMap::new(),
            },
            plugins: Plugins {
                proc: true,
                enable_running_new_plugins: true,
                check_for_new_plugins_every: 60,
                max_charts_per_plugin: 10_000,
                max_dimensions_per_plugin: 200_000,
                enabled: BTreeMap::new(),
                options: BTreeMap::new(),
            },
            exporters: Vec::new(),
            prometheus: PrometheusExporter::default(),
            host_labels: Vec::new(),
            web: Web {
                mode: "static-threaded".to_string(),
                allow_connections_from: "localhost *".to_string(),
                max_sockets: 512,
                bind_to: vec![BindTo { host: "127.0.0.1".to_string(), port: Some(19999), acl: None }],
                default_port: 19999,
                timeout_for_first_request: 10,
                max_pending_requests: 256,
                max_pending_requests_per_address: 16,
                ssl_key: None,
                ssl_certificate: None,
                tls_version: "1.3".to_string(),
                tls_ciphers: "none".to_string(),
            },
            stream: Stream {
                max_children: 1000,
                timeout_seconds: 600,
                enable_compression: true,
                keys: Vec::new()
            },
            registry: Registry {
                unique_id_file: Some(PathBuf::from("/var/lib/netdata/registry/netdata.public.unique.id")),
            },
        }
    );
}

#[test]
fn the_config_directory_defaults_to_the_main_files_directory() {
    let loaded = parse(source("/etc/rrdpipe/rrdpipe.conf", ""), None, &defaults()).unwrap();
    assert_eq!(loaded.config.directories.config, PathBuf::from("/etc/rrdpipe"));
}

#[test]
fn an_empty_backend_section_gives_every_legacy_default() {
    let loaded = ok("[backend]\n");
    assert_eq!(loaded.config.exporters, vec![legacy_defaults()]);
    assert_eq!(loaded.warnings, Vec::<String>::new());
}

#[test]
fn an_empty_instance_section_gives_every_instance_default() {
    let loaded = ok("# exporters\n[graphite:g]\n");
    let expected = ExporterConfig {
        name: "g".to_string(),
        section: "graphite:g".to_string(),
        line: 2,
        legacy: false,
        send_names_instead_of_ids: true,
        send_configured_labels: true,
        ..legacy_defaults()
    };
    assert_eq!(loaded.config.exporters, vec![expected]);
}

#[test]
fn default_ports_follow_the_type() {
    let loaded = ok("[json:j]\n[opentsdb:o]\n[opentsdb:https:s]\n[json:http:h]\n\
                     [prometheus_remote_write:p]\n[prometheus_remote_write:https:ps]\n\
                     [backend]\ntype = opentsdb:telnet\n");
    let ports: Vec<(String, ConnectorKind, u16)> =
        loaded.config.exporters.iter().map(|e| (e.name.clone(), e.kind, e.destinations[0].port)).collect();
    let want = |name: &str, kind, port| (name.to_string(), kind, port);
    assert_eq!(
        ports,
        vec![
            want("j", ConnectorKind::Json, 5448),
            want("o", ConnectorKind::Opentsdb, 4242),
            want("s", ConnectorKind::OpentsdbHttp { tls: true }, 443),
            want("h", ConnectorKind::JsonHttp { tls: false }, 80),
            want("p", ConnectorKind::RemoteWrite { tls: false }, 80),
            want("ps", ConnectorKind::RemoteWrite { tls: true }, 443),
            want("backend", ConnectorKind::Opentsdb, 4242),
        ]
    );
}

#[test]
fn the_timeout_defaults_to_twice_the_update_interval() {
    let loaded = ok("[graphite:a]\nupdate every = 3\n[graphite:b]\nupdate every = 3\ntimeout ms = 500\n");
    let timeouts: Vec<u64> = loaded.config.exporters.iter().map(|e| e.timeout_ms).collect();
    assert_eq!(timeouts, vec![6000, 500]);
}

// ---------------------------------------------------------------- values

#[test]
fn every_key_is_read() {
    let loaded = ok("[global]\n\
        hostname = web1\n\
        update every = 2\n\
        history = 7200\n\
        log level = DEBUG\n\
        [directories]\n\
        plugins = \"/opt/plugins.d\" '/opt/my plugins' /srv/p\n\
        config = /etc/rrdpipe\n\
        stock config = /opt/netdata/conf.d\n\
        log = /l\n\
        cache = /c\n\
        lib = /v\n\
        web = /w\n\
        home = /h\n\
        host prefix = /host\n\
        [plugin:apps]\n\
        update every = 3\n\
        command options = --a 'b c'\n\
        [plugins]\n\
        proc = no\n\
        enable running new plugins = no\n\
        check for new plugins every = 30\n\
        max charts per plugin = 50\n\
        max dimensions per plugin = 500\n\
        apps = yes\n\
        go.d = off\n\
        [host labels]\n\
        room = b12\n\
        rack =\n\
        [backend]\n\
        enabled = yes\n\
        type = json\n\
        destination = udp:collector:9999 10.0.0.1\n\
        data source = sum\n\
        prefix = pre\n\
        hostname = alias\n\
        update every = 5\n\
        buffer on failures = 3\n\
        timeout ms = 750\n\
        send charts matching = system.*\n\
        send hosts matching = *\n\
        send names instead of ids = yes\n\
        send configured labels = no\n\
        send automatic labels = yes\n\
        remote write URL path = /api/v1/write\n\
        username = u\n\
        password = p\n\
        tls ca file = /etc/ca.pem\n\
        tls skip verify = yes\n");
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let c = loaded.config;
    assert_eq!(
        c.global,
        Global {
            hostname: "web1".to_string(),
            update_every: 2,
            history: 7200,
            log_level: "debug".to_string(),
        }
    );
    assert_eq!(
        c.directories,
        Directories {
            config: PathBuf::from("/etc/rrdpipe"),
            stock_config: PathBuf::from("/opt/netdata/conf.d"),
            plugins: vec![
                PathBuf::from("/opt/plugins.d"),
                PathBuf::from("/opt/my plugins"),
                PathBuf::from("/srv/p")
            ],
            log: PathBuf::from("/l"),
            cache: PathBuf::from("/c"),
            lib: PathBuf::from("/v"),
            lock: PathBuf::from("/v/lock"),
            web: PathBuf::from("/w"),
            home: PathBuf::from("/h"),
            host_prefix: PathBuf::from("/host"),
            set_at: BTreeMap::from([
                ("plugins", "rrdpipe.conf:7".to_string()),
                ("config", "rrdpipe.conf:8".to_string()),
                ("stock config", "rrdpipe.conf:9".to_string()),
                ("log", "rrdpipe.conf:10".to_string()),
                ("cache", "rrdpipe.conf:11".to_string()),
                ("lib", "rrdpipe.conf:12".to_string()),
                ("web", "rrdpipe.conf:13".to_string()),
                ("home", "rrdpipe.conf:14".to_string()),
                ("host prefix", "rrdpipe.conf:15".to_string()),
            ]),
        }
    );
    assert_eq!(
        c.plugins,
        Plugins {
            proc: false,
            enable_running_new_plugins: false,
            check_for_new_plugins_every: 30,
            max_charts_per_plugin: 50,
            max_dimensions_per_plugin: 500,
            enabled: BTreeMap::from([("apps".to_string(), true), ("go.d".to_string(), false)]),
            options: BTreeMap::from([(
                "apps".to_string(),
                PluginOptions {
                    update_every: 3,
                    command_options: vec!["--a".to_string(), "b c".to_string()]
                }
            )]),
        }
    );
    assert_eq!(
        c.host_labels,
        vec![("room".to_string(), "b12".to_string()), ("rack".to_string(), String::new())]
    );
    assert_eq!(
        c.exporters,
        vec![ExporterConfig {
            line: 30,
            kind: ConnectorKind::Json,
            enabled: true,
            destinations: vec![
                Endpoint { udp: true, host: "collector".to_string(), port: 9999 },
                Endpoint { udp: false, host: "10.0.0.1".to_string(), port: 5448 },
            ],
            data_source: DataSource::Sum,
            prefix: "pre".to_string(),
            hostname: Some("alias".to_string()),
            update_every: 5,
            buffer_on_failures: 3,
            timeout_ms: 750,
            send_charts_matching: "system.*".to_string(),
            send_hosts_matching: "*".to_string(),
            send_names_instead_of_ids: true,
            send_configured_labels: false,
            send_automatic_labels: true,
            remote_write_url_path: "/api/v1/write".to_string(),
            username: Some("u".to_string()),
            password: Some("p".to_string()),
            tls_ca_file: Some(PathBuf::from("/etc/ca.pem")),
            tls_skip_verify: true,
            ..legacy_defaults()
        }]
    );
}

#[test]
fn plugin_switches_decide_which_external_plugins_run() {
    let plugins = ok("[plugins]\napps = no\n").config.plugins;
    assert!(!plugins.is_enabled("apps"));
    assert!(plugins.is_enabled("charts.d"));
    let plugins = ok("[plugins]\nenable running new plugins = no\napps = yes\n").config.plugins;
    assert!(plugins.is_enabled("apps"));
    assert!(!plugins.is_enabled("charts.d"));
}

#[test]
fn booleans_accept_netdatas_spellings_in_any_case() {
    for (text, want) in [
        ("yes", true),
        ("YES", true),
        ("true", true),
        ("True", true),
        ("on", true),
        ("1", true),
        ("no", false),
        ("No", false),
        ("false", false),
        ("FALSE", false),
        ("off", false),
        ("0", false),
    ] {
        let loaded = ok(&format!("[backend]\nenabled = {text}\n"));
        assert_eq!(loaded.config.exporters[0].enabled, want, "{text}");
    }
}

#[test]
fn data_sources_accept_every_alias() {
    for (text, want) in [
        ("as collected", DataSource::AsCollected),
        ("as-collected", DataSource::AsCollected),
        ("raw", DataSource::AsCollected),
        ("average", DataSource::Average),
        ("Average", DataSource::Average),
        ("sum", DataSource::Sum),
        ("volume", DataSource::Sum),
    ] {
        let loaded = ok(&format!("[backend]\ndata source = {text}\n"));
        assert_eq!(loaded.config.exporters[0].data_source, want, "{text}");
    }
}

#[test]
fn values_keep_quotes_and_inner_equals_signs() {
    let loaded = ok("[host labels]\nquoted = \"a b\"\n  eq  =  x = y  \n");
    assert_eq!(
        loaded.config.host_labels,
        vec![("quoted".to_string(), "\"a b\"".to_string()), ("eq".to_string(), "x = y".to_string())]
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn syntax_errors_name_file_line_and_text() {
    assert_eq!(
        errors("[global]\nhistory\n[]\n= 5\n[web\n"),
        vec![
            "rrdpipe.conf:2: cannot parse 'history': expected [section] or key = value",
            "rrdpipe.conf:3: cannot parse '[]': expected [section] or key = value",
            "rrdpipe.conf:4: cannot parse '= 5': expected [section] or key = value",
            "rrdpipe.conf:5: cannot parse '[web': expected [section] or key = value",
        ]
    );
}

#[test]
fn an_entry_before_any_section_is_an_error() {
    assert_eq!(
        error("# top\nhostname = x\n[global]\n"),
        "rrdpipe.conf:2: 'hostname = x' is outside any section; put a [section] line above it"
    );
}

#[test]
fn entries_under_a_broken_header_are_not_reported_again() {
    assert_eq!(
        errors("[backend\nenabled = maybe\n"),
        vec!["rrdpipe.conf:1: cannot parse '[backend': expected [section] or key = value"]
    );
}

#[test]
fn global_value_errors() {
    assert_eq!(
        error("[global]\n\nupdate every = soon\n"),
        "rrdpipe.conf:3: update every = \"soon\": expected a whole number of seconds ≥ 1"
    );
    assert_eq!(
        error("[global]\nupdate every = 0\n"),
        "rrdpipe.conf:2: update every = \"0\": expected a whole number of seconds ≥ 1"
    );
    assert_eq!(
        error("[global]\nhistory = 4\n"),
        "rrdpipe.conf:2: history = \"4\": expected a whole number of entries from 5 to 2592000"
    );
    assert_eq!(
        error("[global]\nhistory = 2592001\n"),
        "rrdpipe.conf:2: history = \"2592001\": expected a whole number of entries from 5 to \
         2592000"
    );
    assert_eq!(
        error("[global]\nlog level = verbose\n"),
        "rrdpipe.conf:2: log level = \"verbose\": unknown log level. Choose from: error, warn, \
         info, debug, trace"
    );
    assert_eq!(
        error("[global]\nhostname =\n"),
        "rrdpipe.conf:2: hostname = \"\": expected a host name, not an empty value"
    );
}

#[test]
fn directory_and_plugin_errors() {
    assert_eq!(
        error("[directories]\nplugins =\n"),
        "rrdpipe.conf:2: plugins = \"\": expected one or more directories, e.g. \"/a\" \"/b\", not an empty value"
    );
    assert_eq!(
        error("[plugins]\napps = sometimes\n"),
        "rrdpipe.conf:2: apps = \"sometimes\": expected yes or no (or true/false, on/off, 1/0)"
    );
    assert_eq!(
        error("[plugins]\nproc = maybe\n"),
        "rrdpipe.conf:2: proc = \"maybe\": expected yes or no (or true/false, on/off, 1/0)"
    );
    assert_eq!(
        error("[plugins]\nmax charts per plugin = 0\n"),
        "rrdpipe.conf:2: max charts per plugin = \"0\": expected a whole number of charts ≥ 1"
    );
    assert_eq!(
        error("[plugins]\nmax dimensions per plugin = -3\n"),
        "rrdpipe.conf:2: max dimensions per plugin = \"-3\": expected a whole number of \
         dimensions ≥ 1"
    );
}

#[test]
fn exporter_value_errors() {
    let cases = [
        (
            "type = graphit",
            "type = \"graphit\": unknown backend type. Choose from: graphite, \
             graphite:plaintext, opentsdb, opentsdb:telnet, json, json:plaintext",
        ),
        (
            "type = opentsdb:http",
            "type = \"opentsdb:http\": unknown backend type. Choose from: graphite, \
             graphite:plaintext, opentsdb, opentsdb:telnet, json, json:plaintext",
        ),
        (
            "data source = avg",
            "data source = \"avg\": unknown data source. Choose from: as collected (or \
             as-collected, raw), average, sum (or volume)",
        ),
        ("update every = 1.5", "update every = \"1.5\": expected a whole number of seconds ≥ 1"),
        ("timeout ms = 0", "timeout ms = \"0\": expected a whole number of milliseconds ≥ 1"),
        (
            "buffer on failures = many",
            "buffer on failures = \"many\": expected a whole number of update intervals ≥ 1",
        ),
        ("enabled = maybe", "enabled = \"maybe\": expected yes or no (or true/false, on/off, 1/0)"),
        (
            "remote write URL path = receive",
            "remote write URL path = \"receive\": expected a URL path starting with /, e.g. \
             /receive",
        ),
        (
            "destination = localhost:99999",
            "destination = \"localhost:99999\": 'localhost:99999' has a bad port '99999'; use a \
             number from 1 to 65535",
        ),
    ];
    for (line, message) in cases {
        assert_eq!(error(&format!("[backend]\n{line}\n")), format!("rrdpipe.conf:2: {message}"));
    }
}

#[test]
fn all_errors_are_collected_in_line_order() {
    let e = parse2(
        "[global]\nupdate every = x\nfoo = 1\n[backend]\ntype = x\nbroken line\n",
        Some("[graphite:g]\ntimeout ms = 0\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "rrdpipe.conf:2: update every = \"x\": expected a whole number of seconds ≥ 1\n\
         rrdpipe.conf:5: type = \"x\": unknown backend type. Choose from: graphite, \
         graphite:plaintext, opentsdb, opentsdb:telnet, json, json:plaintext\n\
         rrdpipe.conf:6: cannot parse 'broken line': expected [section] or key = value\n\
         exporting.conf:2: timeout ms = \"0\": expected a whole number of milliseconds ≥ 1"
    );
    assert_eq!(e.warnings, vec!["rrdpipe.conf:3: unknown key 'foo' in [global]; ignored"]);
}

#[test]
fn exporter_names_must_be_unique_and_present() {
    assert_eq!(
        errors("[graphite:a]\n[json:a]\n[graphite:]\n"),
        vec![
            "rrdpipe.conf:2: [json:a]: the name 'a' is already used by [graphite:a] at \
             rrdpipe.conf:1; give each exporter its own name",
            "rrdpipe.conf:3: [graphite:] has no instance name; write [TYPE:NAME], e.g. \
             [graphite:my_graphite]",
        ]
    );
    let e = parse2("[graphite:a]\n", Some("[opentsdb:a]\n")).unwrap_err();
    assert_eq!(
        e.errors,
        vec![
            "exporting.conf:1: [opentsdb:a]: the name 'a' is already used by [graphite:a] at \
             rrdpipe.conf:1; give each exporter its own name"
        ]
    );
}

#[test]
fn a_bad_default_in_exporting_global_is_reported_once() {
    let e = parse2("", Some("[exporting:global]\nupdate every = 0\n[graphite:a]\n[json:b]\n")).unwrap_err();
    assert_eq!(
        e.errors,
        vec!["exporting.conf:2: update every = \"0\": expected a whole number of seconds ≥ 1"]
    );
    let e = parse2("", Some("[exporting:global]\nprefix = x\ntimeout ms = 0\n")).unwrap_err();
    assert_eq!(
        e.errors,
        vec!["exporting.conf:3: timeout ms = \"0\": expected a whole number of milliseconds ≥ 1"]
    );
}

// ---------------------------------------------------------------- warnings

#[test]
fn unknown_keys_are_warned_about() {
    let loaded = ok("[global]\nhostname = h\n\nmemory mode = ram\n[directories]\nlogs = /x\n\
                     [plugins]\nPATH environment variable = /bin\n[backend]\nhost tags = a\n\
                     [graphite:g]\ntype = json\n");
    assert_eq!(
        loaded.warnings,
        vec![
            "rrdpipe.conf:4: unknown key 'memory mode' in [global]; ignored",
            "rrdpipe.conf:6: unknown key 'logs' in [directories]; ignored",
            "rrdpipe.conf:8: unknown key 'PATH environment variable' in [plugins]; ignored",
            "rrdpipe.conf:10: unknown key 'host tags' in [backend]; ignored",
            "rrdpipe.conf:12: unknown key 'type' in [graphite:g]; ignored",
        ]
    );
}

#[test]
fn unknown_sections_are_warned_about_and_known_ones_are_not() {
    let loaded = parse2(
        "[web]\nbind to = *\n[stream]\nenabled = no\n[logs]\nlevel = info\n\
         [11111111-2222-3333-4444-55555555aaaa]\ntype = api\n[host labels]\n\
         [db]\nmode = ram\n[plugin:proc]\n[graphit:x]\n",
        Some("[global]\n[exporting:global]\n[prometheus:exporter]\n"),
    )
    .unwrap();
    assert_eq!(
        loaded.warnings,
        vec![
            "rrdpipe.conf:11: unknown key 'mode' in [db]; ignored",
            "rrdpipe.conf:12: unknown section [plugin:proc]; ignored",
            "rrdpipe.conf:13: unknown section [graphit:x]; ignored",
            "exporting.conf:1: unknown section [global]; ignored (exporting.conf holds \
             [exporting:global], [prometheus:exporter] and [TYPE:NAME] sections)",
        ]
    );
}

#[test]
fn a_key_set_twice_warns_and_the_last_value_wins() {
    let loaded = ok("[global]\nhistory = 10\nhistory = 20\n[global]\nhistory = 30\n");
    assert_eq!(loaded.config.global.history, 30);
    assert_eq!(
        loaded.warnings,
        vec![
            "rrdpipe.conf:3: key 'history' in [global] was already set at line 2; the value here \
             wins",
            "rrdpipe.conf:5: key 'history' in [global] was already set at line 3; the value here \
             wins",
        ]
    );
}

// ---------------------------------------------------------------- sections and exporting.conf

#[test]
fn section_names_split_at_the_last_colon() {
    assert_eq!(split_section("opentsdb:http:tsdb"), Some(("opentsdb:http", "tsdb")));
    assert_eq!(split_section("graphite:g"), Some(("graphite", "g")));
    assert_eq!(split_section("graphite : g "), Some(("graphite", "g")));
    assert_eq!(split_section("global"), None);
    let loaded = ok("[opentsdb:http:tsdb]\n[graphite:plaintext:g]\n[prometheus_remote_write:https:vm]\n\
                     [opentsdb:https]\n");
    let got: Vec<(&str, &str, ConnectorKind)> =
        loaded.config.exporters.iter().map(|e| (e.section.as_str(), e.name.as_str(), e.kind)).collect();
    assert_eq!(
        got,
        vec![
            ("opentsdb:http:tsdb", "tsdb", ConnectorKind::OpentsdbHttp { tls: false }),
            ("graphite:plaintext:g", "g", ConnectorKind::Graphite),
            ("prometheus_remote_write:https:vm", "vm", ConnectorKind::RemoteWrite { tls: true }),
            ("opentsdb:https", "https", ConnectorKind::Opentsdb),
        ]
    );
}

#[test]
fn every_instance_type_is_accepted() {
    let names: Vec<&str> = INSTANCE_TYPES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        vec![
            "graphite",
            "graphite:plaintext",
            "opentsdb",
            "opentsdb:telnet",
            "json",
            "json:plaintext",
            "opentsdb:http",
            "opentsdb:https",
            "json:http",
            "json:https",
            "prometheus_remote_write",
            "prometheus_remote_write:http",
            "prometheus_remote_write:https",
        ]
    );
    let text: String = names.iter().enumerate().map(|(i, n)| format!("[{n}:e{i}]\n")).collect();
    assert_eq!(ok(&text).config.exporters.len(), 13);
}

#[test]
fn exporting_conf_instances_take_exporting_global_defaults_and_override_them() {
    let loaded = parse2(
        "[graphite:main]\nprefix = own\n[exporting:global]\nprefix = main-default\nupdate every = 7\n",
        Some(
            "[exporting:global]\nenabled = yes\nprefix = file-default\n\
             [json:j]\ndestination = 10.1.1.1\n\
             [opentsdb:o]\nenabled = no\nupdate every = 2\n",
        ),
    )
    .unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let got: Vec<(&str, bool, &str, u32, u64, &str)> = loaded
        .config
        .exporters
        .iter()
        .map(|e| {
            (e.name.as_str(), e.enabled, e.prefix.as_str(), e.update_every, e.timeout_ms, e.file.as_str())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("main", true, "own", 7, 14_000, "rrdpipe.conf"),
            ("j", true, "file-default", 7, 14_000, "exporting.conf"),
            ("o", false, "file-default", 2, 4_000, "exporting.conf"),
        ]
    );
    assert_eq!(
        loaded.config.exporters[1].destinations,
        vec![Endpoint { udp: false, host: "10.1.1.1".to_string(), port: 5448 }]
    );
}

#[test]
fn spool_keys_are_read_in_backend_exporting_global_and_instances() {
    let loaded = parse2(
        "[backend]\nspool directory = /var/spool/b\nspool max size = 2G\n",
        Some(
            "[exporting:global]\nspool directory = /var/spool/rrdpipe\nspool max size = 512MiB\n\
             [graphite:inherits]\n\
             [json:own]\nspool directory = /srv/own\nspool max size = 1048577\n\
             [opentsdb:off]\nspool directory =\n",
        ),
    )
    .unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let got: Vec<(&str, Option<PathBuf>, u64)> = loaded
        .config
        .exporters
        .iter()
        .map(|e| (e.name.as_str(), e.spool_directory.clone(), e.spool_max_size))
        .collect();
    assert_eq!(
        got,
        vec![
            ("backend", Some(PathBuf::from("/var/spool/b")), 2 << 30),
            ("inherits", Some(PathBuf::from("/var/spool/rrdpipe")), 512 << 20),
            ("own", Some(PathBuf::from("/srv/own")), 1_048_577),
            ("off", None, 512 << 20),
        ]
    );
    assert_eq!(ok("[graphite:g]\n").config.exporters[0].spool_directory, None);
    assert_eq!(ok("[graphite:g]\n").config.exporters[0].spool_max_size, SPOOL_MAX_SIZE_DEFAULT);
}

#[test]
fn spool_max_size_accepts_bytes_and_binary_suffixes_in_any_case() {
    for (text, bytes) in [
        ("1048576", 1u64 << 20),
        ("1024K", 1 << 20),
        ("1024 kib", 1 << 20),
        ("3m", 3 << 20),
        ("3 MiB", 3 << 20),
        ("1g", 1 << 30),
        ("16GiB", 16 << 30),
    ] {
        let e = &ok(&format!("[graphite:g]\nspool max size = {text}\n")).config.exporters[0];
        assert_eq!(e.spool_max_size, bytes, "{text}");
    }
}

#[test]
fn spool_max_size_errors_name_the_line_and_the_accepted_forms() {
    let expected = "expected a size of at least 1MiB: a number of bytes, or one with a suffix K, \
                    M, G (or KiB, MiB, GiB; powers of 1024), e.g. 1GiB";
    for text in ["1GB", "lots", "G", "1.5G", "-1G", "1048575", "1023K", "0", "99999999999G", "1 G B"] {
        assert_eq!(
            error(&format!("[backend]\nspool max size = {text}\n")),
            format!("rrdpipe.conf:2: spool max size = \"{text}\": {expected}")
        );
    }
    let e = parse2("", Some("[exporting:global]\nspool max size = 10X\n[graphite:a]\n")).unwrap_err();
    assert_eq!(e.errors, vec![format!("exporting.conf:2: spool max size = \"10X\": {expected}")]);
}

#[test]
fn effective_shows_spool_sizes_in_the_largest_exact_unit() {
    for (text, shown) in
        [("1073741824", "1GiB"), ("1536K", "1536KiB"), ("2048M", "2GiB"), ("1048577", "1048577")]
    {
        let effective =
            ok(&format!("[graphite:g]\nspool max size = {text}\nspool directory = /s\n")).config.effective();
        assert!(
            effective.contains(&format!("\n    spool directory = /s\n    spool max size = {shown}\n")),
            "{effective}"
        );
    }
}

#[test]
fn exporting_global_does_not_apply_to_the_legacy_backend() {
    let loaded = ok("[exporting:global]\nenabled = yes\nprefix = p\n[backend]\n");
    assert_eq!(loaded.config.exporters, vec![ExporterConfig { line: 4, ..legacy_defaults() }]);
}

#[test]
fn exporting_global_enabled_no_disables_every_instance() {
    let loaded = parse2(
        "[backend]\nenabled = yes\n",
        Some("[exporting:global]\nenabled = no\n[graphite:a]\nenabled = yes\n[json:b]\n"),
    )
    .unwrap();
    let enabled: Vec<(&str, bool)> =
        loaded.config.exporters.iter().map(|e| (e.name.as_str(), e.enabled)).collect();
    assert_eq!(enabled, vec![("backend", true), ("a", false), ("b", false)]);
    assert_eq!(
        loaded.warnings,
        vec![
            "exporting.conf:4: [graphite:a] enabled = yes is overridden by [exporting:global] \
             enabled = no at exporting.conf:2; this exporter stays disabled"
        ]
    );
}

#[test]
fn instances_are_disabled_unless_enabled() {
    let loaded = parse2("", Some("[graphite:a]\n[json:b]\nenabled = yes\n")).unwrap();
    let enabled: Vec<bool> = loaded.config.exporters.iter().map(|e| e.enabled).collect();
    assert_eq!(enabled, vec![false, true]);
}

// ---------------------------------------------------------------- destinations

fn dest(udp: bool, host: &str, port: u16) -> Endpoint {
    Endpoint { udp, host: host.to_string(), port }
}

#[test]
fn destinations_parse_with_default_ports_and_ipv6() {
    assert_eq!(
        parse_destinations(
            "a, b:2004,udp:c tcp:[::1]:2005 [fe80::1%eth0] TCP:d\t,,e:1",
            ConnectorKind::Graphite
        ),
        Ok(vec![
            dest(false, "a", 2003),
            dest(false, "b", 2004),
            dest(true, "c", 2003),
            dest(false, "::1", 2005),
            dest(false, "fe80::1%eth0", 2003),
            dest(false, "d", 2003),
            dest(false, "e", 1),
        ])
    );
    assert_eq!(
        parse_destinations("tcp:[fe80::1]", ConnectorKind::Opentsdb),
        Ok(vec![dest(false, "fe80::1", 4242)])
    );
    assert_eq!(
        parse_destinations("vm:8428", ConnectorKind::RemoteWrite { tls: false }),
        Ok(vec![dest(false, "vm", 8428)])
    );
    assert_eq!(
        parse_destinations("vm", ConnectorKind::JsonHttp { tls: true }),
        Ok(vec![dest(false, "vm", 443)])
    );
}

#[test]
fn bad_destinations_say_what_is_wrong() {
    let graphite = ConnectorKind::Graphite;
    let cases = [
        ("", "expected at least one destination, e.g. localhost:2003"),
        (" , ", "expected at least one destination, e.g. localhost:2003"),
        ("tcp::2003", "'tcp::2003' has no host; write [tcp:|udp:]HOST[:PORT]"),
        (":2003", "':2003' has no host; write [tcp:|udp:]HOST[:PORT]"),
        ("[]:2003", "'[]:2003' has no host; write [tcp:|udp:]HOST[:PORT]"),
        ("a:", "'a:' has a bad port ''; use a number from 1 to 65535"),
        ("a:0", "'a:0' has a bad port '0'; use a number from 1 to 65535"),
        ("a:65536", "'a:65536' has a bad port '65536'; use a number from 1 to 65535"),
        ("a:http", "'a:http' has a bad port 'http'; use a number from 1 to 65535"),
        ("::1", "'::1' looks like an IPv6 address; put it in brackets, e.g. [::1]"),
        (
            "udp:fe80::1:2003",
            "'udp:fe80::1:2003' looks like an IPv6 address; put it in brackets, e.g. [fe80::1:2003]",
        ),
        ("[::1:2003", "'[::1:2003' has no closing ] after the IPv6 address"),
        ("[::1]2003", "'[::1]2003' has '2003' after ]; write [ADDRESS]:PORT"),
    ];
    for (text, message) in cases {
        assert_eq!(parse_destinations(text, graphite), Err(message.to_string()), "{text}");
    }
    assert_eq!(
        parse_destinations("a udp:b", ConnectorKind::OpentsdbHttp { tls: false }),
        Err("'udp:b' uses udp, which only graphite, opentsdb and json (plaintext) can send over; \
             remove 'udp:'"
            .to_string())
    );
}

#[test]
fn an_empty_destination_is_an_error_in_the_file() {
    assert_eq!(
        error("[graphite:g]\ndestination =\n"),
        "rrdpipe.conf:2: destination = \"\": expected at least one destination, e.g. \
         localhost:2003"
    );
}

#[test]
fn destinations_display_as_they_parse() {
    let list =
        vec![dest(false, "a", 1), dest(true, "b", 2), dest(false, "::1", 3), dest(true, "fe80::1%eth0", 4)];
    let text: Vec<String> = list.iter().map(Endpoint::to_string).collect();
    assert_eq!(text, vec!["a:1", "udp:b:2", "[::1]:3", "udp:[fe80::1%eth0]:4"]);
    assert_eq!(parse_destinations(&text.join(" "), ConnectorKind::Json), Ok(list));
}

// ---------------------------------------------------------------- effective configuration

#[test]
fn effective_shows_every_key_with_defaults() {
    let loaded = ok("[graphite:g]\n");
    assert_eq!(
        loaded.config.effective(),
        "# rrdpipe effective configuration, read from rrdpipe.conf
# every key is shown with its value, defaults included; passwords are masked

[global]
    hostname = box
    update every = 1
    history = 3600
    log level = info

[db]
    cleanup obsolete charts after secs = 3600
    cleanup orphan hosts after secs = 3600
    enable replication = yes
    seconds to replicate = 86400
    seconds per replication step = 600

[directories]
    # default
    config = .
    # default
    stock config = /usr/lib/netdata/conf.d
    # default
    plugins = \"/usr/lib/netdata/plugins.d\" \"./custom-plugins.d\"
    # default
    log = /var/log/netdata
    # default
    cache = /var/cache/netdata
    # default
    lib = /var/lib/netdata
    # default
    lock = /var/lib/netdata/lock
    # default
    web = /usr/share/netdata/web
    # default
    home = /var/lib/netdata
    # default
    host prefix =

[plugins]
    proc = yes
    enable running new plugins = yes
    check for new plugins every = 60
    max charts per plugin = 10000
    max dimensions per plugin = 200000

[host labels]

[web]
    mode = static-threaded
    bind to = 127.0.0.1:19999
    allow connections from = localhost *
    default port = 19999
    timeout for first request = 10
    max pending requests = 256
    max pending requests per address = 16
    web server max sockets = 512
    ssl key =
    ssl certificate =
    tls version = 1.3
    tls ciphers = none

[stream]
    max children = 1000
    timeout seconds = 600
    enable compression = yes

[registry]
    netdata unique id file = /var/lib/netdata/registry/netdata.public.unique.id

[prometheus:exporter]
    data source = average
    prefix = netdata
    update every = 10
    send names instead of ids = yes
    send configured labels = yes
    send automatic labels = no
    send charts matching = *
    send hosts matching = localhost *

[graphite:g]
    enabled = no
    destination = localhost:2003
    data source = average
    prefix = netdata
    hostname =
    update every = 10
    buffer on failures = 10
    spool directory =
    spool max size = 1GiB
    timeout ms = 20000
    send charts matching = *
    send hosts matching = localhost *
    send names instead of ids = yes
    send configured labels = yes
    send automatic labels = no
    remote write URL path = /receive
    username =
    password =
    tls ca file =
    tls skip verify = no
    max buffer size = 128MiB
    replay window = 0
"
    );
}

#[test]
fn effective_shows_the_legacy_type_and_masks_passwords() {
    let text = ok("[backend]\ntype = json:plaintext\npassword = hunter2\n").config.effective();
    let backend = text.split("[backend]\n").nth(1).unwrap();
    assert_eq!(
        backend.lines().take(3).collect::<Vec<_>>(),
        vec!["    enabled = no", "    type = json", "    destination = localhost:5448"]
    );
    assert!(backend.contains("\n    password = ********\n"), "{backend}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// The configuration with the locations that depend on where text was read from cleared.
fn located_nowhere(mut config: Config) -> Config {
    config.file = PathBuf::new();
    for e in &mut config.exporters {
        e.file = String::new();
        e.line = 0;
    }
    for k in &mut config.stream.keys {
        k.file = String::new();
        k.line = 0;
    }
    config
}

#[test]
fn effective_parses_back_to_the_same_configuration() {
    let original = parse2(
        "[global]\nhostname = web1\nupdate every = 2\nhistory = 600\nlog level = warn\n\
         [directories]\nplugins = /opt/p\nconfig = /etc/r\n\
         [plugins]\nproc = no\napps = yes\ngo.d = no\nmax charts per plugin = 5\n\
         [host labels]\nroom = b12\nempty =\n\
         [web]\nbind to = [::1]:20000 10.1.2.3=dashboard|streaming *\ndefault port = 7\n\
         [stream]\nmax children = 3\ntimeout seconds = 9\nenable compression = no\n\
         [11111111-2222-3333-4444-55555555aaaa]\nenabled = yes\nallow from = 10.*\nenable compression = no\n\
         [aaaaaaaa-2222-3333-4444-555555555555]\ntype = machine\nenabled = no\n\
         [backend]\nenabled = yes\ntype = opentsdb:telnet\ndestination = udp:[::1]:4000 h\n\
         data source = raw\nhostname = alias\nusername = u\npassword = secret\n\
         tls ca file = /ca.pem\nspool directory = /var/spool/rrdpipe\nspool max size = 5000001\n",
        Some(
            "[exporting:global]\nenabled = no\nupdate every = 3\nsend hosts matching = *\n\
             spool directory = /spool\nspool max size = 3 g\n\
             [prometheus_remote_write:https:vm]\nenabled = yes\ndestination = vm:8428\n\
             remote write URL path = /api/v1/write\ntls skip verify = on\n\
             [json:http:j]\nprefix =\ntimeout ms = 123\nspool directory =\nspool max size = 1536k\n",
        ),
    )
    .unwrap()
    .config;
    let text = original.effective();
    let again = ok(&text);
    assert_eq!(again.warnings, Vec::<String>::new());
    // Where each directory came from differs: the second parse read every key from the text.
    let values = |t: &str| t.lines().filter(|l| !l.starts_with("    #")).collect::<Vec<_>>().join("\n");
    assert_eq!(values(&again.config.effective()), values(&text.replace("secret", "********")));
    let mut expected = located_nowhere(original);
    expected.exporters[0].password = Some("********".to_string());
    assert_eq!(located_nowhere(again.config), expected);
}

// ---------------------------------------------------------------- parent mode: [web], [stream], API keys

fn parse3(main: &str, stream_conf: &str) -> Result<Loaded, Errors> {
    parse_files(source("rrdpipe.conf", main), None, Some(source("stream.conf", stream_conf)), &defaults())
}

const KEY: &str = "11111111-2222-3333-4444-55555555aaaa";
const GUID: &str = "aaaaaaaa-2222-3333-4444-555555555555";

#[test]
fn api_keys_are_read_from_stream_conf_and_the_main_file_with_netdatas_defaults() {
    let loaded = parse3(
        &format!("[{KEY}]\nenabled = no\nallow from = 10.*\n[{GUID}]\ntype = machine\nenable compression = no\n"),
        &format!("[stream]\nmax children = 5\n[{KEY}]\ntype = api\nenabled = yes\n\n[22222222-2222-3333-4444-555555555555]\n"),
    )
    .unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let s = &loaded.config.stream;
    assert_eq!((s.max_children, s.timeout_seconds, s.enable_compression), (5, 600, true));
    let compression: Vec<bool> = s.keys.iter().map(|k| k.enable_compression).collect();
    assert_eq!(compression, [true, true, false], "only the machine section says no");
    let keys: Vec<(&str, StreamKeyType, bool, &str, &str, usize)> = s
        .keys
        .iter()
        .map(|k| (k.uuid.as_str(), k.key_type, k.enabled, k.allow_from.as_str(), k.file.as_str(), k.line))
        .collect();
    assert_eq!(
        keys,
        vec![
            // stream.conf wins where both set a key; the main file fills in the rest.
            (KEY, StreamKeyType::Api, true, "10.*", "stream.conf", 3),
            // An API key is disabled unless enabled.
            ("22222222-2222-3333-4444-555555555555", StreamKeyType::Api, false, "*", "stream.conf", 7),
            // A machine section is enabled unless disabled.
            (GUID, StreamKeyType::Machine, true, "*", "rrdpipe.conf", 4),
        ]
    );
    assert!(s.any_api_key_enabled());
}

/// netdata 1.37's receiver reads `enable replication`, `seconds to replicate` and `seconds per
/// replication step` in the API key's and the machine GUID's sections: read, unset where absent.
#[test]
fn replication_keys_are_read_per_api_key_and_machine_section() {
    let loaded = parse3(
        "",
        &format!(
            "[{KEY}]\nenabled = yes\nenable replication = no\nseconds to replicate = 3600\n\
             [{GUID}]\ntype = machine\nseconds per replication step = 60\n"
        ),
    )
    .unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
    let r: Vec<KeyReplication> = loaded.config.stream.keys.iter().map(|k| k.replication).collect();
    assert_eq!(
        r,
        [
            KeyReplication { enabled: Some(false), seconds: Some(3600), step: None },
            KeyReplication { enabled: None, seconds: None, step: Some(60) },
        ]
    );
    let bad = parse3("", &format!("[{KEY}]\nseconds to replicate = soon\n")).unwrap_err();
    assert_eq!(
        bad.errors,
        ["stream.conf:2: seconds to replicate = \"soon\": expected a whole number of seconds ≥ 1"]
    );
}

#[test]
fn no_enabled_api_key_means_no_listener() {
    let s = parse3("", &format!("[{KEY}]\ntype = api\n[{GUID}]\ntype = machine\n")).unwrap().config.stream;
    assert!(!s.any_api_key_enabled());
    assert!(!ok("").config.stream.any_api_key_enabled());
}

#[test]
fn stream_limits_come_from_stream_conf_before_the_main_file() {
    let s = parse3("[stream]\nmax children = 7\ntimeout seconds = 30\n", "[stream]\ntimeout seconds = 60\n")
        .unwrap()
        .config
        .stream;
    assert_eq!((s.max_children, s.timeout_seconds), (7, 60));
}

#[test]
fn stream_and_key_sections_report_bad_values_and_unknown_keys() {
    let e = parse3(
        "[stream]\nmax children = 0\n",
        &format!("[{KEY}]\ntype = apikey\nenabled = maybe\ndefault history = 3600\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.errors,
        vec![
            "rrdpipe.conf:2: max children = \"0\": expected a whole number of children ≥ 1",
            "stream.conf:2: type = \"apikey\": unknown type. Choose from: api (an API key), machine (a machine GUID)",
            "stream.conf:3: enabled = \"maybe\": expected yes or no (or true/false, on/off, 1/0)",
        ]
    );
    assert_eq!(e.warnings, vec![format!("stream.conf:4: unknown key 'default history' in [{KEY}]; ignored")]);
}

#[test]
fn netdatas_sending_keys_in_stream_are_accepted_and_enabling_them_is_warned_about() {
    let loaded = parse3(
        "",
        "[stream]\nenabled = yes\ndestination = parent:19999\napi key = x\ntimeout seconds = 60\n\
         buffer size bytes = 1048576\nsome key = 1\n[web]\n",
    )
    .unwrap();
    assert_eq!(
        loaded.warnings,
        vec![
            "stream.conf:2: [stream] enabled = yes asks to send to a parent, which rrdpipe does not do; \
             its sending keys are ignored (children stream to rrdpipe through the API key sections)",
            "stream.conf:7: unknown key 'some key' in [stream]; ignored",
            "stream.conf:8: unknown section [web]; ignored (stream.conf holds [stream] and sections \
             named after an API key or machine GUID)",
        ]
    );
    assert_eq!(loaded.config.stream.timeout_seconds, 60);
}

#[test]
fn bind_to_accepts_netdatas_forms() {
    let b = |host: &str, port: Option<u16>, acl: Option<&str>| BindTo {
        host: host.to_string(),
        port,
        acl: acl.map(str::to_string),
    };
    let list =
        parse_bind_to("* 127.0.0.1:19998, [::1]:7 [::] 10.0.0.1=dashboard host:9=streaming|badges").unwrap();
    assert_eq!(
        list,
        vec![
            b("*", None, None),
            b("127.0.0.1", Some(19998), None),
            b("::1", Some(7), None),
            b("::", None, None),
            b("10.0.0.1", None, Some("dashboard")),
            b("host", Some(9), Some("streaming|badges")),
        ]
    );
    let web = Web { bind_to: list, default_port: 19999, ..Web::default() };
    // The dashboard-only entry does not take streams.
    assert_eq!(
        web.streaming_addresses(),
        vec!["0.0.0.0:19999", "127.0.0.1:19998", "[::1]:7", "[::]:19999", "host:9"]
    );
    let text: Vec<String> = web.bind_to.iter().map(BindTo::to_string).collect();
    assert_eq!(text.join(" "), "* 127.0.0.1:19998 [::1]:7 [::] 10.0.0.1=dashboard host:9=streaming|badges");
}

#[test]
fn bad_bind_to_entries_say_what_to_write() {
    let cases = [
        ("", "expected at least one address, e.g. 127.0.0.1:19999"),
        ("unix:/run/n.sock", "'unix:/run/n.sock': unix sockets are not supported; list TCP addresses only"),
        ("::1", "'::1' looks like an IPv6 address; put it in brackets, e.g. [::1]"),
        ("[::1", "'[::1' has no closing ] after the IPv6 address"),
        (":80", "':80' has no host; write HOST[:PORT], or *:PORT for every address"),
        ("h:0", "'h:0' has a bad port '0'; use a number from 1 to 65535"),
        ("h:http", "'h:http' has a bad port 'http'; use a number from 1 to 65535"),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_bind_to(text), Err(expected.to_string()), "{text:?}");
    }
    assert_eq!(
        error("[web]\nbind to = h:x\n"),
        "rrdpipe.conf:2: bind to = \"h:x\": 'h:x' has a bad port 'x'; use a number from 1 to 65535"
    );
}

#[test]
fn load_reads_stream_conf_beside_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("rrdpipe.conf");
    std::fs::write(&main, "[web]\nbind to = 127.0.0.1:20001\n").unwrap();
    std::fs::write(dir.path().join("stream.conf"), format!("[{KEY}]\nenabled = yes\n")).unwrap();
    let config = load(&main).unwrap().config;
    assert!(config.stream.any_api_key_enabled());
    assert_eq!(config.stream.keys[0].file, dir.path().join("stream.conf").display().to_string());
    assert_eq!(config.web.streaming_addresses(), vec!["127.0.0.1:20001"]);
}

// ---------------------------------------------------------------- load

#[test]
fn load_reads_exporting_conf_beside_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("rrdpipe.conf");
    std::fs::write(&main, "[global]\nhostname = h\n[graphite:a]\n").unwrap();
    std::fs::write(dir.path().join("exporting.conf"), "[json:b]\nfoo = 1\n").unwrap();
    let loaded = load(&main).unwrap();
    let names: Vec<&str> = loaded.config.exporters.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["a", "b"]);
    assert_eq!(loaded.config.directories.config, dir.path());
    let exporting = dir.path().join("exporting.conf");
    assert_eq!(
        loaded.warnings,
        vec![format!("{}:2: unknown key 'foo' in [json:b]; ignored", exporting.display())]
    );
}

#[test]
fn load_finds_exporting_conf_in_the_configured_directory() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("conf.d");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("exporting.conf"), "[json:b]\n").unwrap();
    std::fs::write(dir.path().join("exporting.conf"), "[json:wrong]\n").unwrap();
    let main = dir.path().join("rrdpipe.conf");
    let text = format!("[directories]\nconfig = {}\n", other.display());
    std::fs::write(&main, text).unwrap();
    let loaded = load(&main).unwrap();
    let names: Vec<&str> = loaded.config.exporters.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["b"]);
}

#[test]
fn load_reports_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("missing.conf");
    let e = load(&main).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read the configuration file: No such file or directory (os error 2); \
             check the path",
            main.display()
        )
    );
}

#[test]
fn load_says_a_file_that_is_not_utf8_must_be_saved_as_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("latin1.conf");
    std::fs::write(&main, b"[global]\n    hostname = caf\xe9\n").unwrap();
    let e = load(&main).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: the configuration file is not UTF-8 text; save it as UTF-8", main.display())
    );
}

#[test]
fn legacy_backend_warns_that_it_sends_no_labels() {
    let text = "[backend]\n    enabled = yes\n    send configured labels = yes\n";
    let loaded =
        parse_files(Source { name: "n.conf".into(), text: text.into() }, None, None, &defaults()).unwrap();
    assert_eq!(
        loaded.warnings,
        vec!["n.conf:3: [backend] send configured labels = yes has no effect: the legacy [backend] sends no labels; \
              to send them, export through an instance such as [graphite:NAME] instead"
            .to_string()]
    );
    let quiet = "[backend]\n    enabled = yes\n";
    let loaded =
        parse_files(Source { name: "n.conf".into(), text: quiet.into() }, None, None, &defaults()).unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
}

#[test]
fn load_uses_the_system_hostname_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("rrdpipe.conf");
    std::fs::write(&main, "").unwrap();
    let hostname = load(&main).unwrap().config.global.hostname;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(hostname, kernel.trim());
}

// ---------------------------------------------------------------- the ini parser

fn ini_of(text: &str) -> (ini::Ini, Vec<String>, Vec<String>) {
    let mut diag = Diagnostics::default();
    let ini = ini::parse("f", text, &mut diag);
    let (errors, warnings) = diag.finish();
    (ini, errors, warnings)
}

#[test]
fn ini_keeps_lines_and_merges_repeated_sections() {
    let (ini, errors, warnings) = ini_of("\u{feff}# c\n[ a ]\n  k  =  v  \r\n\n[b]\nx=\n[a]\nk2 = w\n");
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(warnings, Vec::<String>::new());
    let entry =
        |key: &str, value: &str, line| ini::Entry { key: key.to_string(), value: value.to_string(), line };
    assert_eq!(
        ini.sections,
        vec![
            ini::Section {
                name: "a".to_string(),
                line: 2,
                entries: vec![entry("k", "v", 3), entry("k2", "w", 8)],
            },
            ini::Section { name: "b".to_string(), line: 5, entries: vec![entry("x", "", 6)] },
        ]
    );
}

#[test]
fn ini_semicolon_lines_are_not_comments() {
    let (_, errors, _) = ini_of("[a]\n; note\n");
    assert_eq!(errors, vec!["f:2: cannot parse '; note': expected [section] or key = value"]);
}

proptest! {
    #[test]
    fn ini_parse_of_any_text_points_at_real_lines(
        lines in prop::collection::vec(
            prop_oneof![
                "[ \t]*\\[[ a-z:\\]\\[]{0,6}\\][ \t]*",
                "[ \t]*[a-z =#;\\[]{0,8}=[ a-z=\"]{0,8}",
                "\\PC{0,16}",
            ],
            0..16,
        ),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        let numbered: Vec<&str> = text.lines().collect();
        let (ini, errors, warnings) = ini_of(&text);
        for section in &ini.sections {
            let line = numbered[section.line - 1].trim_start_matches('\u{feff}').trim();
            let inner = line.strip_prefix('[').and_then(|l| l.strip_suffix(']'));
            prop_assert_eq!(inner.map(str::trim), Some(section.name.as_str()));
            for entry in &section.entries {
                let line = numbered[entry.line - 1].trim_start_matches('\u{feff}');
                let (key, value) = line.split_once('=').unwrap();
                prop_assert_eq!(key.trim(), entry.key.as_str());
                prop_assert_eq!(value.trim(), entry.value.as_str());
                prop_assert!(!entry.key.is_empty());
            }
        }
        for message in errors.iter().chain(&warnings) {
            let number: usize = message
                .strip_prefix("f:")
                .and_then(|m| m.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            prop_assert!((1..=numbered.len()).contains(&number), "{}", message);
        }
    }

    #[test]
    fn ini_reads_back_what_was_written(
        sections in prop::collection::btree_map(
            "[a-z]([a-z :]{0,8}[a-z])?",
            prop::collection::btree_map("[a-z]([a-z ]{0,8}[a-z])?", "([!-~]([ -~]{0,10}[!-~])?)?", 0..5),
            0..5,
        ),
    ) {
        let mut text = String::new();
        for (name, entries) in &sections {
            text.push_str(&format!("[{name}]\n"));
            for (key, value) in entries {
                setting::entry_line(&mut text, key, value);
            }
        }
        let (ini, errors, warnings) = ini_of(&text);
        prop_assert_eq!(errors, Vec::<String>::new());
        prop_assert_eq!(warnings, Vec::<String>::new());
        let read: BTreeMap<String, BTreeMap<String, String>> = ini
            .sections
            .iter()
            .map(|s| {
                let entries = s.entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect();
                (s.name.clone(), entries)
            })
            .collect();
        prop_assert_eq!(read, sections);
    }
}

#[test]
fn buffer_sizes_take_units_and_replay_window_is_automatic_by_default() {
    let loaded = ok("[graphite:g]\nmax buffer size = 64M\nupdate every = 2\ntimeout ms = 30000\n");
    let e = &loaded.config.exporters[0];
    assert_eq!(e.max_buffer_bytes, 64 << 20);
    // max(10 intervals of 2 s, 2 × 30 s)
    assert_eq!(e.replay_window(), 60);
    for (text, bytes) in
        [("1048576", 1 << 20), ("512 KiB", 512 << 10), ("2g", 2 << 30), ("1536k", 1536 << 10)]
    {
        let loaded = ok(&format!("[graphite:g]\nmax buffer size = {text}\nreplay window = 5\n"));
        assert_eq!(loaded.config.exporters[0].max_buffer_bytes, bytes, "{text}");
        assert_eq!(loaded.config.exporters[0].replay_window(), 5);
    }
    let e = parse2("[graphite:g]\nmax buffer size = lots\n", None).unwrap_err();
    assert_eq!(
        e.errors,
        vec![
            "rrdpipe.conf:2: max buffer size = \"lots\": expected a size of at least 1KiB: a number of bytes, or one \
             with a suffix K, M, G (or KiB, MiB, GiB; powers of 1024), e.g. 1GiB"
        ]
    );
}

#[test]
fn debug_output_never_shows_the_password() {
    let loaded = ok("[json:http:j]\nusername = u\npassword = hunter2\n");
    let dbg = format!("{:?}", loaded.config.exporters[0]);
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("password: Some(\"********\")"), "{dbg}");
}

#[test]
fn web_gate_limits_and_the_machine_guid_file_are_read() {
    let loaded =
        ok("[directories]\nlib = /srv/nd\n[web]\ntimeout for first request = 3\nmax pending requests = 40\n\
                     max pending requests per address = 4\n[registry]\nenabled = no\n");
    let c = &loaded.config;
    assert_eq!(
        (c.web.timeout_for_first_request, c.web.max_pending_requests, c.web.max_pending_requests_per_address),
        (3, 40, 4)
    );
    assert_eq!(c.registry.unique_id_file, Some(PathBuf::from("/srv/nd/registry/netdata.public.unique.id")));
    assert_eq!(loaded.warnings, Vec::<String>::new(), "netdata's other [registry] keys are accepted quietly");
    let loaded = ok("[registry]\nnetdata unique id file = /tmp/x/id\n");
    assert_eq!(loaded.config.registry.unique_id_file, Some(PathBuf::from("/tmp/x/id")));
    let e =
        parse(source("rrdpipe.conf", "[web]\nmax pending requests = 0\n"), None, &defaults()).unwrap_err();
    assert!(e.errors[0].starts_with("rrdpipe.conf:2: "), "{e}");
}

#[test]
fn a_config_of_78000_keys_loads_in_linear_time() {
    // Loading is linear in the keys: 78 000 of them take well under a second. A key looked
    // for among every key, section and message read before it would take over 30 s.
    let (main, stream) = crate::testdata::config_of_78000_keys();
    assert_eq!(main.lines().chain(stream.lines()).filter(|l| l.contains('=')).count(), 78_000);
    let started = std::time::Instant::now();
    let loaded =
        parse_files(source("rrdpipe.conf", &main), None, Some(source("stream.conf", &stream)), &defaults())
            .unwrap_or_else(|e| panic!("unexpected errors:\n{e}"));
    let elapsed = started.elapsed();
    let c = &loaded.config;
    assert_eq!(c.global.update_every, 5_000, "the last value written wins");
    assert_eq!(c.host_labels.len(), 20_000);
    assert_eq!(c.host_labels[19_999], ("label19999".to_string(), "value 19999".to_string()));
    assert_eq!(c.exporters.len(), 2_500);
    assert_eq!(c.exporters[2_499].name, "g2499");
    assert_eq!(
        c.exporters[2_499].destinations,
        vec![Endpoint { udp: false, host: "127.0.0.1".to_string(), port: 3499 }]
    );
    // stream.conf's sections first (500 to 1499), then the main file's others (0 to 499).
    assert_eq!(c.stream.keys.len(), 1_500);
    assert_eq!(c.stream.keys[0].uuid, "00000000-0000-0000-0000-000000000500");
    assert_eq!(c.stream.keys.iter().filter(|k| k.enabled).count(), 1_000);
    assert_eq!(c.stream.keys.iter().filter(|k| k.allow_from == "10.*").count(), 1_000);
    assert!(c.stream.keys[0].enabled && c.stream.keys[0].allow_from == "10.*");
    assert_eq!(loaded.warnings.len(), 4_999 + 45_999, "one per overridden and per unknown key");
    assert_eq!(
        loaded.warnings[0],
        "rrdpipe.conf:4: key 'update every' in [global] was already set at line 3; the value here wins"
    );
    assert_eq!(
        loaded.warnings[50_997],
        "rrdpipe.conf:51001: unknown key 'unknown 45998' in [global]; ignored"
    );
    assert!(elapsed < std::time::Duration::from_secs(5), "78 000 keys took {elapsed:?}");
}

#[test]
fn db_cleanup_keys_are_read_in_db_and_under_their_old_names_in_global() {
    let c = ok("[db]\ncleanup orphan hosts after secs = 5\ncleanup obsolete charts after secs = 60\n").config;
    assert_eq!(
        c.db,
        Database { cleanup_obsolete_charts_after: 60, cleanup_orphan_hosts_after: 5, ..Database::default() }
    );
    // netdata 1.37 still reads the [global] names, unless [db] sets the key.
    let loaded = ok("[global]\ncleanup orphan hosts after seconds = 30\n\
                     cleanup obsolete charts after seconds = 20\n\
                     [db]\ncleanup obsolete charts after secs = 40\n");
    assert_eq!(loaded.warnings, Vec::<String>::new());
    assert_eq!(
        loaded.config.db,
        Database { cleanup_obsolete_charts_after: 40, cleanup_orphan_hosts_after: 30, ..Database::default() }
    );
    assert!(loaded.config.effective().contains(
        "\n[db]\n    cleanup obsolete charts after secs = 40\n    cleanup orphan hosts after secs = 30\n"
    ));
    assert_eq!(
        error("[db]\ncleanup obsolete charts after secs = 5\n"),
        "rrdpipe.conf:2: cleanup obsolete charts after secs = \"5\": expected a whole number of seconds from 10 to 4294967295"
    );
    assert_eq!(
        error("[global]\ncleanup orphan hosts after seconds = soon\n"),
        "rrdpipe.conf:2: cleanup orphan hosts after secs = \"soon\": expected a whole number of seconds from 1 to 4294967295"
    );
}

// ---------------------------------------------------------------- [directories] and [plugin:NAME]

#[test]
fn relative_directories_are_taken_from_the_main_files_folder() {
    let text = "[directories]\nconfig = conf.d\nplugins = \"p\" \"/abs/p\"\nlib = ../state\ncache = /c\n";
    let c = parse(source("/etc/rrdpipe/rrdpipe.conf", text), None, &defaults()).unwrap().config;
    let d = &c.directories;
    assert_eq!(d.config, PathBuf::from("/etc/rrdpipe/conf.d"));
    assert_eq!(d.plugins, vec![PathBuf::from("/etc/rrdpipe/p"), PathBuf::from("/abs/p")]);
    assert_eq!(d.lib, PathBuf::from("/etc/rrdpipe/../state"));
    assert_eq!(d.lock, PathBuf::from("/etc/rrdpipe/../state/lock"), "lock follows lib");
    assert_eq!(d.cache, PathBuf::from("/c"));
}

#[test]
fn the_default_plugins_directories_are_the_installed_one_then_custom_plugins_d_in_config() {
    let text = "[directories]\nconfig = /srv/conf\n";
    let c = parse(source("/etc/rrdpipe/rrdpipe.conf", text), None, &defaults()).unwrap().config;
    assert_eq!(
        c.directories.plugins,
        vec![PathBuf::from("/usr/lib/netdata/plugins.d"), PathBuf::from("/srv/conf/custom-plugins.d")]
    );
    assert_eq!(c.directories.origin("plugins"), "default");
    assert_eq!(c.directories.origin("config"), "/etc/rrdpipe/rrdpipe.conf:2");
}

#[test]
fn a_plugins_list_with_an_unclosed_quote_or_nothing_is_an_error() {
    assert_eq!(
        errors("[directories]\nplugins = \"/a\" \"/b\n"),
        vec!["rrdpipe.conf:2: plugins = \"\"/a\" \"/b\": expected directories in quotes, e.g. \"/a\" \"/b\", not an unclosed quote"]
    );
    assert_eq!(
        errors("[directories]\nplugins = \"/a\" \"\"\n"),
        vec!["rrdpipe.conf:2: plugins = \"\"/a\" \"\"\": expected one or more directories, e.g. \"/a\" \"/b\", not an empty value"]
    );
}

#[test]
fn plugin_sections_default_to_the_global_interval_and_warn_about_unknown_keys() {
    let loaded =
        ok("[plugin:perf]\ncommand options = all\nfoo = 1\n[global]\nupdate every = 4\n[plugin:apps]\n");
    let options = &loaded.config.plugins.options;
    assert_eq!(options["perf"], PluginOptions { update_every: 4, command_options: vec!["all".to_string()] });
    assert_eq!(options["apps"], PluginOptions { update_every: 4, command_options: Vec::new() });
    assert_eq!(loaded.warnings, vec!["rrdpipe.conf:3: unknown key 'foo' in [plugin:perf]; ignored"]);
    assert_eq!(
        errors("[plugin:apps]\nupdate every = 0\ncommand options = 'x\n"),
        vec![
            "rrdpipe.conf:2: update every = \"0\": expected a whole number of seconds ≥ 1",
            "rrdpipe.conf:3: command options = \"'x\": expected command-line words, not an unclosed quote or a trailing backslash",
        ]
    );
}

#[test]
fn effective_says_where_each_directory_came_from() {
    let text = "[global]\nhostname = h\n[directories]\nlib = /srv/nd\nplugins = \"/a\" \"/b c\"\n";
    let effective = ok(text).config.effective();
    let section: Vec<&str> = effective
        .lines()
        .skip_while(|l| *l != "[directories]")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        section,
        [
            "    # default",
            "    config = .",
            "    # default",
            "    stock config = /usr/lib/netdata/conf.d",
            "    # set at rrdpipe.conf:5",
            "    plugins = \"/a\" \"/b c\"",
            "    # default",
            "    log = /var/log/netdata",
            "    # default",
            "    cache = /var/cache/netdata",
            "    # set at rrdpipe.conf:4",
            "    lib = /srv/nd",
            "    # default",
            "    lock = /srv/nd/lock",
            "    # default",
            "    web = /usr/share/netdata/web",
            "    # default",
            "    home = /var/lib/netdata",
            "    # default",
            "    host prefix =",
        ]
    );
}

#[test]
fn missing_directories_are_warned_about_naming_the_key_and_where_it_was_set() {
    let text = "[directories]\nplugins = /p /gone\nstock config = /nope\n";
    let c = parse(source("/e/r.conf", text), None, &defaults()).unwrap().config;
    let exists = |p: &Path| p == Path::new("/p") || p == Path::new("/e") || p.starts_with("/var");
    assert_eq!(
        missing_directories(&c.directories, "/e/r.conf", exists),
        vec![
            "/e/r.conf:2: [directories] plugins = /gone: no such directory; skipped".to_string(),
            "/e/r.conf:3: [directories] stock config = /nope: no such directory; plugins are given it as \
             NETDATA_STOCK_CONFIG_DIR and may fail without it: create it or point the key at the right directory"
                .to_string(),
        ]
    );
    // No plugins directory at all: one warning, nothing about what plugins would be given.
    let c = parse(source("/e/r.conf", ""), None, &defaults()).unwrap().config;
    assert_eq!(
        missing_directories(&c.directories, "/e/r.conf", |_| false),
        vec![
            "/e/r.conf (default): [directories] plugins = /usr/lib/netdata/plugins.d: no such directory, so no \
             external plugin will run; install netdata's plugins (Debian: apt install netdata) or point the key at \
             a directory of *.plugin programs"
                .to_string()
        ]
    );
}

// ---------------------------------------------------------------- [prometheus:exporter]

#[test]
fn prometheus_exporter_keys_fall_back_to_exporting_global_as_in_netdata() {
    let loaded = parse2(
        "[prometheus:exporter]\nprefix = main\n",
        Some(
            "[exporting:global]\nprefix = global\nupdate every = 7\nsend names instead of ids = no\n\
             [prometheus:exporter]\ndata source = sum\nprefix = site\nsend automatic labels = yes\n\
             send hosts matching = !child* *\nsend charts matching = system.*\ncolour = red\n",
        ),
    )
    .unwrap();
    let p = &loaded.config.prometheus;
    assert_eq!(
        *p,
        PrometheusExporter {
            data_source: DataSource::Sum,
            prefix: "site".to_string(),
            update_every: 7,
            send_names_instead_of_ids: false,
            send_configured_labels: true,
            send_automatic_labels: true,
            send_charts_matching: "system.*".to_string(),
            send_hosts_matching: "!child* *".to_string(),
        }
    );
    assert_eq!(
        loaded.warnings,
        vec!["exporting.conf:11: unknown key 'colour' in [prometheus:exporter]; ignored"]
    );
    assert_eq!(ok("").config.prometheus, PrometheusExporter::default());
    assert!(loaded.config.effective().contains(
        "\n[prometheus:exporter]\n    data source = sum\n    prefix = site\n    update every = 7\n"
    ));
}

#[test]
fn a_bad_prometheus_exporter_value_is_an_error_with_its_place() {
    let e = parse2("", Some("[prometheus:exporter]\ndata source = median\n")).unwrap_err();
    assert_eq!(
        e.errors,
        vec![
            "exporting.conf:2: data source = \"median\": unknown data source. Choose from: as collected \
             (or as-collected, raw), average, sum (or volume)"
        ]
    );
}
