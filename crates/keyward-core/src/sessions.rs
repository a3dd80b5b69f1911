//! Console sessions (SPEC §8): password login, throttled like the token endpoint; the
//! session a browser holds (a random token, kept by the browser in an `HttpOnly` cookie
//! and stored here only as its SHA-256 digest); idle and absolute expiry; logout; the
//! password change a one-time password asks for; and the [`Principal`] a session acts
//! as. That principal is built on every request from the user's *live* state by the
//! same rules as every other credential's, so the console can do nothing the
//! management API would refuse the user, and a deactivated, deleted or re-roled user's
//! session follows at once.

use std::net::IpAddr;

use chrono::Duration as Span;
use keyward_domain::{
    AdminId, AppStatus, BuiltinRole, EnvironmentSlug, Grants, Password, Username, ValidationError,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::access::{Principal, PrincipalKind, Target};
use crate::audit::{Actor, AuditEvent};
use crate::clock::Io;
use crate::error::{with_io, Error};
use crate::secret::{credential_digest, random_base62};
use crate::throttle::{Admission, Outcome};
use crate::Keyward;

/// A session lives at most this long after login, however busy.
const MAX_SESSION_HOURS: i64 = 12;

/// `last_seen_at` is written at most this often per session (a console click is not
/// worth a database write each).
const TOUCH_INTERVAL_SECS: i64 = 30;

/// The refusal every failed login gets, whatever the cause (unknown user, wrong
/// password, inactive user, no password set): the cause is not told.
const LOGIN_REFUSED: &str = "wrong username or password";

/// A session token, as given to the browser once at login. Never printed.
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    /// The token text (for the cookie).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The CSRF token that goes with this session (see [`csrf_token`]).
    pub fn csrf_token(&self) -> String {
        csrf_token(&self.0)
    }
}

/// The CSRF token of a session: derived from the session token (SHA-256 under a fixed
/// label), so nothing more is stored, and a page that cannot read the `HttpOnly`
/// cookie cannot compute it. The console page receives it from the login and session
/// responses and sends it in the `X-CSRF-Token` header of every state change.
pub fn csrf_token(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"keyward console csrf\0");
    hasher.update(session_token.as_bytes());
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        hasher.finalize(),
    )
}

/// Whether `presented` is the CSRF token of `session_token` (constant time).
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let expected = csrf_token(session_token);
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// What a successful login gives.
pub struct LoggedIn {
    /// The new session's token (for the cookie; shown to nobody).
    pub token: SessionToken,
    /// The user, as stored.
    pub username: Username,
    /// Whether the password was a one-time password that must be replaced now.
    pub must_change_password: bool,
}

/// A valid session, as found for one request.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// The user it belongs to.
    pub user_id: AdminId,
    /// That user's login name.
    pub username: Username,
    /// Whether the user must replace a one-time password before anything else.
    pub must_change_password: bool,
}

impl Keyward {
    /// Logs a user in with username and password; on success stores a new session and
    /// returns its token. Failures are throttled per (username, source) and per source
    /// with the token endpoint's settings (429 beyond them), and every cause of refusal
    /// gets the same 401.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<LoggedIn, Error> {
        let now = self.clock.now();
        let key = format!("user:{}", username.to_lowercase());
        let reservation = match self.login_throttle.admit_named(&key, source, now) {
            Admission::Reserved(r) => r,
            Admission::Throttled { retry_after, .. } => {
                return Err(Error::Throttled { retry_after });
            }
        };
        let result = self.check_password(username, password);
        let outcome = match &result {
            Ok(_) => Outcome::NotFailed,
            Err(Error::Unauthenticated(_)) => Outcome::Failed,
            Err(_) => Outcome::NotFailed,
        };
        self.login_throttle.settle(reservation, outcome);
        let record = result?;
        let token = SessionToken(Zeroizing::new(random_base62(&mut self.rng(), 43)));
        // Sessions long idle are removed as others log in: no job to run.
        let idle_before = now - self.session_idle();
        self.store.delete_idle_sessions(idle_before)?;
        let actor = Actor {
            kind: keyward_store::AuditActorKind::User,
            name: record.username.as_str().to_owned(),
            address: source,
        };
        self.audited(&actor, || {
            self.store
                .create_session(record.id, &credential_digest(token.expose()), now)?;
            Ok((
                (),
                AuditEvent::new("user.logged_in", None, record.username.as_str()),
            ))
        })?;
        Ok(LoggedIn {
            token,
            username: record.username,
            must_change_password: record.password_must_change,
        })
    }

    fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<keyward_store::LoginRecord, Error> {
        let Ok(name) = Username::parse(username) else {
            return Err(Error::Unauthenticated(LOGIN_REFUSED));
        };
        let Some(record) = self.store.login_record(&name)? else {
            return Err(Error::Unauthenticated(LOGIN_REFUSED));
        };
        let Some(hash) = record.password_hash.as_deref() else {
            return Err(Error::Unauthenticated(LOGIN_REFUSED));
        };
        if !self.hasher.verify(password.as_bytes(), hash)? || record.status != AppStatus::Active {
            return Err(Error::Unauthenticated(LOGIN_REFUSED));
        }
        Ok(record)
    }

    /// How long a session may stay unused before it expires.
    pub fn session_idle(&self) -> Span {
        Span::from_std(self.config.session_idle).unwrap_or(Span::minutes(30))
    }

    /// The session with this token, if it exists and has not expired (idle for longer
    /// than the setting, or older than 12 hours): else 401, and an expired one is
    /// deleted. Records the use.
    pub fn session(&self, token: &str) -> Result<ActiveSession, Error> {
        let digest = credential_digest(token);
        let record = self
            .store
            .session(&digest)?
            .ok_or(Error::Unauthenticated("no such session"))?;
        let now = self.clock.now();
        if now - record.last_seen_at > self.session_idle()
            || now - record.created_at > Span::hours(MAX_SESSION_HOURS)
        {
            self.store.delete_session(&digest)?;
            return Err(Error::Unauthenticated("session expired"));
        }
        if now - record.last_seen_at > Span::seconds(TOUCH_INTERVAL_SECS) {
            self.store.touch_session(&digest, now)?;
        }
        Ok(ActiveSession {
            user_id: record.user_id,
            username: record.username,
            must_change_password: record.password_must_change,
        })
    }

    /// Ends a session (logout). An unknown or expired session is already ended.
    pub fn logout(&self, token: &str, source: Option<IpAddr>) -> Result<(), Error> {
        let digest = credential_digest(token);
        let Some(session) = self.store.session(&digest)? else {
            return Ok(());
        };
        let actor = Actor {
            kind: keyward_store::AuditActorKind::User,
            name: session.username.as_str().to_owned(),
            address: source,
        };
        self.audited(&actor, || {
            self.store.delete_session(&digest)?;
            Ok((
                (),
                AuditEvent::new("user.logged_out", None, session.username.as_str()),
            ))
        })?;
        Ok(())
    }

    /// Replaces the session user's password after checking the current one (a wrong
    /// one: 422 on `current_password`, counted by the login throttle). Ends the user's
    /// other sessions.
    pub fn change_password(
        &self,
        token: &str,
        current: &str,
        new: String,
        source: Option<IpAddr>,
    ) -> Result<(), Error> {
        let session = self.session(token)?;
        let new = Password::parse(new)
            .map_err(|e| Error::invalid(ValidationError::new("new_password", e.message)))?;
        if new.expose() == current {
            return Err(Error::invalid(ValidationError::new(
                "new_password",
                "must differ from the current password",
            )));
        }
        let now = self.clock.now();
        let key = format!("user:{}", session.username.as_str().to_lowercase());
        let reservation = match self.login_throttle.admit_named(&key, source, now) {
            Admission::Reserved(r) => r,
            Admission::Throttled { retry_after, .. } => {
                return Err(Error::Throttled { retry_after });
            }
        };
        let checked = self.check_password(session.username.as_str(), current);
        self.login_throttle.settle(
            reservation,
            if checked.is_ok() {
                Outcome::NotFailed
            } else {
                Outcome::Failed
            },
        );
        match checked {
            Ok(_) => {}
            Err(Error::Unauthenticated(_)) => {
                return Err(Error::invalid(ValidationError::new(
                    "current_password",
                    "is not your current password",
                )))
            }
            Err(e) => return Err(e),
        }
        let hash = self.hasher.hash(new.expose().as_bytes(), &mut self.rng())?;
        let actor = Actor {
            kind: keyward_store::AuditActorKind::User,
            name: session.username.as_str().to_owned(),
            address: source,
        };
        self.audited(&actor, || {
            self.store
                .set_password(session.user_id, &hash, false, self.clock.now())?;
            self.store
                .delete_other_sessions(session.user_id, Some(&credential_digest(token)))?;
            let event = AuditEvent::new("user.password_changed", None, session.username.as_str());
            Ok(((), event))
        })?;
        Ok(())
    }

    /// Sets a user's console password from the command line (`keyward admin
    /// set-password`). Without a password, a one-time password is generated, returned
    /// once, and must be changed at the next login. Every session of the user ends.
    pub fn set_password(
        &self,
        principal: &Principal,
        username: &str,
        password: Option<String>,
    ) -> Result<Option<Zeroizing<String>>, Error> {
        let name = Username::parse(username)
            .map_err(|_| Error::NotFound(crate::error::Resource::Admin))?;
        let record = self
            .store
            .login_record(&name)?
            .ok_or(Error::NotFound(crate::error::Resource::Admin))?;
        let (password, generated) = match password {
            Some(p) => (Password::parse(p).map_err(Error::invalid)?, None),
            None => {
                let text = Zeroizing::new(random_base62(&mut self.rng(), 20));
                (
                    Password::parse(text.to_string()).map_err(Error::invalid)?,
                    Some(text),
                )
            }
        };
        let hash = self
            .hasher
            .hash(password.expose().as_bytes(), &mut self.rng())?;
        self.audited(&Actor::of(principal), || {
            self.store
                .set_password(record.id, &hash, generated.is_some(), self.clock.now())?;
            self.store.delete_other_sessions(record.id, None)?;
            let event = AuditEvent::new("user.password_set", None, record.username.as_str())
                .detail("one_time", generated.is_some());
            Ok(((), event))
        })?;
        Ok(generated)
    }

    /// On the first start, gives the first Super Admin a generated one-time password
    /// for the console (to be changed at the first login) and returns it to be shown
    /// once; `None` when that user already has a password or does not exist.
    pub fn bootstrap_console_password(&self) -> Result<Option<Zeroizing<String>>, Error> {
        let name = Username::parse(crate::admins::BOOTSTRAP_ADMIN).map_err(Error::invalid)?;
        let Some(record) = self.store.login_record(&name)? else {
            return Ok(None);
        };
        if record.password_hash.is_some() {
            return Ok(None);
        }
        let password = Zeroizing::new(random_base62(&mut self.rng(), 20));
        let hash = self.hasher.hash(password.as_bytes(), &mut self.rng());
        // One-off start-up work: its argon2 buffer goes back to the system, so a
        // server that has verified nothing yet holds no argon2 memory.
        self.hasher.release_idle_buffers();
        let hash = hash?;
        self.audited(&Actor::server(), || {
            self.store
                .set_password(record.id, &hash, true, self.clock.now())?;
            let event = AuditEvent::new("user.password_set", None, record.username.as_str())
                .detail("one_time", true);
            Ok(((), event))
        })?;
        Ok(Some(password))
    }

    /// The principal a session acts as on `target`, from the user's live state: 401
    /// for an unknown or expired session or an inactive or deleted user, 403 while a
    /// one-time password awaits its change. A user with a global built-in role holds
    /// its grants everywhere; a user with roles per environment holds, in an
    /// environment, the union of their roles there, and nothing outside it.
    pub fn session_principal(&self, token: &str, target: &Target) -> Result<Principal, Error> {
        let session = self.session(token)?;
        if session.must_change_password {
            return Err(Error::Forbidden(
                "change the one-time password before anything else".into(),
            ));
        }
        let live = self.validator.live();
        let user = with_io(live.user(&session.username, Io::Allowed))?
            .filter(|u| u.status == AppStatus::Active)
            .ok_or(Error::Unauthenticated("user unknown or inactive"))?;
        let kind = |environment: Option<EnvironmentSlug>| PrincipalKind::User {
            admin_id: user.id,
            username: user.username.clone(),
            environment,
        };
        if let Some(role) = user.role {
            return Ok(Principal {
                kind: kind(None),
                grants: role.grants(),
                scope_limit: None,
                global: matches!(role, BuiltinRole::SuperAdmin | BuiltinRole::Admin),
                address: None,
            });
        }
        let (grants, environment) = match target {
            Target::Environment(slug) => match self.store.environment_by_slug(slug)? {
                Some(env) => (
                    with_io(crate::federation::user_grants_in(
                        live,
                        &user,
                        env.id,
                        Io::Allowed,
                    ))?,
                    Some(env.slug),
                ),
                None => (Grants::none(), None),
            },
            Target::Global | Target::OwnEnvironment => (Grants::none(), None),
        };
        Ok(Principal {
            kind: kind(environment),
            grants,
            scope_limit: None,
            global: false,
            address: None,
        })
    }

    /// The environments a session's user may open in the console: every environment
    /// for a user with a global role (`None`), else those where they hold a role.
    pub fn session_environments(&self, token: &str) -> Result<Option<Vec<String>>, Error> {
        let session = self.session(token)?;
        let name = session.username;
        let user = self
            .store
            .admin_by_username(&name)?
            .ok_or(Error::Unauthenticated("user unknown or inactive"))?;
        if user.role.is_some() {
            return Ok(None);
        }
        let mut slugs: Vec<String> = user
            .environment_roles
            .iter()
            .map(|e| e.environment.as_str().to_owned())
            .collect();
        slugs.dedup();
        Ok(Some(slugs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_belongs_to_its_session_only() {
        let a = csrf_token("session-a");
        assert!(csrf_matches("session-a", &a));
        assert!(!csrf_matches("session-b", &a));
        assert!(!csrf_matches("session-a", ""));
        assert!(!csrf_matches("session-a", &a[1..]));
    }
}
