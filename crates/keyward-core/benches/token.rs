//! The token endpoint's work in memory, as the server runs it on a worker: a client
//! whose secret was verified before asks again, and gets the token it was issued
//! before (reuse hit) or a newly signed one (reuse off, ES256). Storage is a real
//! SQLite file; it is read once, before the measurement.
//!
//!     cargo bench -p keyward-core --bench token
// A benchmark, like a test, may read the clock and the OS RNG and panic on setup failure.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::expect_used,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keyward_core::keys::MasterKey;
use keyward_core::{
    ClientCredentials, Clock, CoreConfig, Keyward, Principal, SecretMethod, SystemClock,
    TokenRequest,
};
use keyward_store::{DieselStore, Store, StoreOptions};
use rand_core::OsRng;
use zeroize::Zeroizing;

/// A core over a fresh database with one app holding `orders:read`, and a token
/// request of that app (its secret verified once, here).
fn warm_core(dir: &std::path::Path, reuse: bool) -> (Keyward, TokenRequest) {
    std::fs::create_dir_all(dir).expect("dir");
    let store: Arc<dyn Store> =
        Arc::new(DieselStore::open(&StoreOptions::sqlite(dir.join("k.db"))).expect("store"));
    let core = Keyward::open(
        store,
        MasterKey::generate(&mut OsRng),
        CoreConfig {
            issuer: "https://keyward.bench".into(),
            audience: "https://keyward.bench".into(),
            token_reuse: reuse,
            ..CoreConfig::default()
        },
        Arc::new(SystemClock) as Arc<dyn Clock>,
    )
    .expect("core");
    core.bootstrap(Some("bench-bootstrap-credential-0123456789abcdef"))
        .expect("bootstrap");
    let system = Principal::system();
    core.create_role(
        &system,
        "default",
        "orders-reader",
        &["orders:read".to_owned()],
    )
    .expect("role");
    let created = core
        .create_app(
            &system,
            "default",
            "bench bot",
            &["orders-reader".to_owned()],
        )
        .expect("app");
    let request = TokenRequest {
        client: ClientCredentials::Secret {
            client_id: created.app.client_id.as_str().to_owned(),
            client_secret: Zeroizing::new(created.client_secret.expose().to_owned()),
            method: SecretMethod::Basic,
        },
        scope: None,
        resource: None,
        source: Some(std::net::IpAddr::from([127, 0, 0, 1])),
    };
    // The first request verifies the secret (argon2) and reads storage.
    core.issue_token(&request).expect("first token");
    (core, request)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let (reusing, request) = warm_core(&dir.path().join("reuse"), true);
    let (signing, signing_request) = warm_core(&dir.path().join("sign"), false);
    let mut group = c.benchmark_group("token endpoint, in memory");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("reuse hit", |b| {
        b.iter(|| {
            let issued = reusing
                .issue_token_from_memory(&request)
                .expect("in memory")
                .expect("issued");
            assert!(issued.reused);
            issued
        })
    });
    group.bench_function("reuse off (ES256 signature)", |b| {
        b.iter(|| {
            signing
                .issue_token_from_memory(&signing_request)
                .expect("in memory")
                .expect("issued")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
