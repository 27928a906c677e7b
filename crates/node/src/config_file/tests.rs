use super::*;

fn args(text: &str, given: &[&str]) -> Result<Vec<String>, String> {
    let given: Vec<OsString> = given.iter().map(OsString::from).collect();
    file_args(Path::new("webkad.toml"), text, &given)
        .map(|a| {
            a.into_iter()
                .map(|s| s.into_string().expect("utf-8"))
                .collect()
        })
        .map_err(|e| e.to_string())
}

#[test]
fn entries_become_flags_in_file_order() {
    let text = "max-connections = 4096\nmdns = true\nupnp = false\nlisten = [\"/ip4/127.0.0.1/tcp/4001\", \"/ip4/127.0.0.1/tcp/4002/ws\"]\nhttp = \"127.0.0.1:9090\"\n";
    assert_eq!(
        args(text, &[]).expect("accepted"),
        [
            "--max-connections=4096",
            "--mdns",
            "--listen=/ip4/127.0.0.1/tcp/4001",
            "--listen=/ip4/127.0.0.1/tcp/4002/ws",
            "--http=127.0.0.1:9090"
        ]
    );
}

#[test]
fn a_flag_on_the_command_line_wins() {
    let text = "max-connections = 4096\nmax-records = 10\n";
    assert_eq!(
        args(text, &["--max-records=20"]).expect("accepted"),
        ["--max-connections=4096"]
    );
}

#[test]
fn a_wrong_key_names_its_line() {
    let error = args("max-records = 10\n\nmax-conections = 5\n", &[]).expect_err("an error");
    assert!(error.contains("line 3"), "{error}");
    assert!(error.contains("unknown key \"max-conections\""), "{error}");
}

#[test]
fn a_wrong_value_names_its_line_and_the_cause() {
    let error = args("# limits\nmax-connections = 0\n", &[]).expect_err("an error");
    assert!(error.contains("line 2"), "{error}");
    assert!(error.contains("--max-connections"), "{error}");
    let error = args("max-records = \"many\"\n", &[]).expect_err("an error");
    assert!(
        error.contains("line 1") && error.contains("many"),
        "{error}"
    );
    let error = args("mdns = 1\n", &[]).expect_err("an error");
    assert!(error.contains("switch"), "{error}");
}

#[test]
fn bad_toml_names_its_line() {
    let error = args("max-records = 10\nmax-connections = \n", &[]).expect_err("an error");
    assert!(error.contains("line 2"), "{error}");
}

#[test]
fn other_subcommands_are_untouched() {
    let argv: Vec<OsString> = ["webkad", "get", "--config", "x"]
        .iter()
        .map(OsString::from)
        .collect();
    assert_eq!(expand(argv.clone()).expect("accepted"), argv);
}
