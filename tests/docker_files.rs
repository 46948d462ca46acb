//! The configuration files the Docker images and rigs start with (docker/conf, the
//! example's conf) load, without Docker: `redmite -t -c FILE` on each. docker/test runs the
//! rigs themselves when an engine is present.

use std::path::Path;
use std::process::Command;

fn yml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_container_configuration_is_valid() {
    let mut files = yml_files("docker/conf");
    files.extend(yml_files("docker/examples/conf"));
    // The image's default, the 4 nodes of the 2x2 rig, the 3 of the 3-rack rig, the example.
    assert_eq!(files.len(), 9, "{files:?}");
    for f in files {
        let out = Command::new(env!("CARGO_BIN_EXE_redmite"))
            .args(["-t", "-c"])
            .arg(&f)
            .output()
            .expect("run redmite -t");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {text}", f.display());
        assert!(text.contains("syntax is valid"), "{}: {text}", f.display());
    }
}
