//! A PostgreSQL server of a test's own, for the one test that stops and starts its
//! database (the run's shared server must stay up for every other test). Started with
//! the binaries and the unprivileged user `scripts/test` names (`KEYWARD_TEST_PG_CTL`,
//! `KEYWARD_TEST_PG_RUN_AS`), in a temporary directory, on a free loopback port; stopped
//! and removed on drop.

use std::path::PathBuf;
use std::process::Command;

/// A throwaway PostgreSQL cluster.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
}

impl OwnPostgres {
    /// Creates and starts a cluster; `None` when the run did not say where PostgreSQL's
    /// binaries are (`KEYWARD_TEST_PG_CTL`).
    pub fn start() -> Option<OwnPostgres> {
        let pg_ctl = PathBuf::from(std::env::var("KEYWARD_TEST_PG_CTL").ok()?);
        let bin = pg_ctl.parent()?.to_path_buf();
        let run_as = std::env::var("KEYWARD_TEST_PG_RUN_AS")
            .ok()
            .filter(|u| !u.is_empty());
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(user) = &run_as {
            let ok = Command::new("chown")
                .arg(user)
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown the cluster directory");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = OwnPostgres {
            dir,
            bin,
            run_as,
            port,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "keyward",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg.start_server();
        Some(pg)
    }

    /// The URL of database `postgres` on it.
    pub fn url(&self) -> String {
        format!("postgres://keyward@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: sessions are cut, as in an outage).
    pub fn stop_server(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// Starts the server (again).
    pub fn start_server(&self) {
        let data = self.data();
        let log = self.dir.path().join("log").display().to_string();
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = cmd.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
