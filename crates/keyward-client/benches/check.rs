//! The remote validator's check of a token it has seen before: signature remembered,
//! app, environment and roles read from the in-memory replica — no network, no storage.
//!
//!     cargo bench -p keyward-client --bench check
// A benchmark, like a test, may read the clock and the OS RNG and panic on setup failure.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::expect_used,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use keyward_client::replica::Replica;
use keyward_core::jwt::AccessTokenClaims;
use keyward_core::keys::{generate_signing_key, Algorithm, KeyRing, MasterKey};
use keyward_core::remote::{
    LiveApiKey, LiveApp, LiveEnvironment, LiveRole, LiveSigningKey, LiveSnapshot,
};
use keyward_core::secret::ApiKeySecret;
use keyward_core::{KeySource, SystemClock, Target, Validator, ValidatorConfig};
use keyward_domain::Permission;
use rand_core::OsRng;

fn bench(c: &mut Criterion) {
    let master = MasterKey::generate(&mut OsRng);
    let record =
        generate_signing_key(Algorithm::Es256, &master, &mut OsRng, Utc::now()).expect("key");
    let ring =
        KeyRing::load(std::slice::from_ref(&record), Algorithm::Es256, &master).expect("ring");
    let api_key = ApiKeySecret::generate(&mut OsRng);
    let replica = Arc::new(Replica::default());
    replica.load(&LiveSnapshot {
        position: 1,
        environments: vec![LiveEnvironment {
            id: 1,
            slug: "default".into(),
            enabled: true,
        }],
        roles: vec![LiveRole {
            id: 1,
            environment_id: 1,
            name: "orders-reader".into(),
            builtin: None,
            permissions: vec!["orders:read".into()],
        }],
        apps: vec![LiveApp {
            id: 1,
            client_id: "benchbot".into(),
            environment_id: 1,
            status: "ACTIVE".into(),
            deleted: false,
            role_ids: vec![1],
        }],
        api_keys: vec![LiveApiKey {
            id: "benchkey".into(),
            digest: keyward_store::digest_to_hex(&api_key.digest()),
            client_id: "benchbot".into(),
            expires_at: None,
        }],
        signing_keys: vec![LiveSigningKey::from(&record)],
        revoked_tokens: Vec::new(),
    });
    let issuer = "https://keyward.bench";
    let now = Utc::now().timestamp();
    let token = ring
        .sign(&AccessTokenClaims {
            iss: issuer.into(),
            sub: "benchbot".into(),
            client_id: "benchbot".into(),
            aud: issuer.into(),
            iat: now,
            exp: now + 3600,
            jti: "bench".into(),
            scope: "orders:read".into(),
            env: "default".into(),
            scope_restricted: false,
        })
        .expect("token");
    let validator = Validator::new(
        replica as Arc<dyn keyward_store::LiveSource>,
        KeySource::Public,
        ValidatorConfig {
            issuer: issuer.into(),
            audience: issuer.into(),
            leeway: Duration::from_secs(60),
            environment: None,
        },
        Arc::new(SystemClock),
    )
    .expect("validator");
    let permission = Permission::parse("orders:read").expect("permission");
    assert!(validator
        .check(&token, &permission, &Target::OwnEnvironment)
        .is_ok());
    c.bench_function("part: verify_token (signature cached)", |b| {
        b.iter(|| validator.verify_token(&token).expect("ok"))
    });
    c.bench_function("remote validator: check of a seen token", |b| {
        b.iter(|| {
            validator
                .authenticate_from_memory(&token)
                .expect("from memory")
                .expect("valid")
                .authorize(&permission, &Target::OwnEnvironment)
                .expect("allowed")
        })
    });
    let key = api_key.expose();
    assert!(validator
        .check(key, &permission, &Target::OwnEnvironment)
        .is_ok());
    c.bench_function("remote validator: check of a seen API key", |b| {
        b.iter(|| {
            validator
                .authenticate_from_memory(key)
                .expect("from memory")
                .expect("valid")
                .authorize(&permission, &Target::OwnEnvironment)
                .expect("allowed")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
