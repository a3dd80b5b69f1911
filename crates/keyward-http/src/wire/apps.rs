//! Client apps: `/api/v1/environments/{env}/client-apps`.

use chrono::{DateTime, Utc};
use keyward_core::AppInEnvironment;
use keyward_domain::{AppStatus, ClientApp, EnvironmentSlug};
use serde::{Deserialize, Serialize};

use crate::body::{FieldKind, FieldRule, JsonRequest};

/// Whether an app may get and use tokens, as the API shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// `ACTIVE`: tokens are issued and honoured.
    Active,
    /// `INACTIVE`: every token request and every token of the app is refused.
    Inactive,
}

impl From<AppStatus> for Status {
    fn from(status: AppStatus) -> Self {
        match status {
            AppStatus::Active => Self::Active,
            AppStatus::Inactive => Self::Inactive,
        }
    }
}

/// A client app (never with its secret): the body of `GET`, `PUT .../roles`,
/// `.../deactivate` and `.../activate`, and the items of the list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct AppBody {
    /// Its name.
    pub name: String,
    /// Its public identifier.
    pub client_id: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: Status,
    /// Its roles' names.
    pub roles: Vec<String>,
    /// The slug of the environment it lives in.
    pub environment: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last token issued; `null` until then.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The client ID its environment's identity provider knows it by; `null` unbound.
    pub external_client_id: Option<String>,
    /// The user whose permissions its external tokens carry; `null` for its own roles.
    pub impersonate: Option<String>,
}

impl AppBody {
    /// The body of an app in its environment.
    pub fn new(app: ClientApp, environment: &EnvironmentSlug) -> Self {
        Self {
            name: app.name.as_str().to_owned(),
            client_id: app.client_id.as_str().to_owned(),
            status: Status::from(app.status),
            roles: app.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            environment: environment.as_str().to_owned(),
            created_at: app.created_at,
            last_used_at: app.last_used_at,
            external_client_id: app.external_client_id,
            impersonate: app.impersonate.map(|u| u.as_str().to_owned()),
        }
    }
}

impl From<AppInEnvironment> for AppBody {
    fn from(shown: AppInEnvironment) -> Self {
        Self::new(shown.app, &shown.environment)
    }
}

/// `201` to `POST .../client-apps`: the app and its secret, in this response and
/// nowhere else, ever.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct CreatedAppBody<'a> {
    /// The app.
    #[serde(flatten)]
    pub app: AppBody,
    /// The client secret, borrowed from core's zeroizing `ClientSecret` until the body
    /// is written.
    pub client_secret: &'a str,
}

/// `POST .../client-apps`: `{"name", "roles"?: [...]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    /// The app's name (the rules are core's: `AppName`).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9+=,.@-][A-Za-z0-9 +=,.@-]{1,126}[A-Za-z0-9+=,.@-]$")
    )]
    pub name: String,
    /// Its roles' names in the environment; none by default.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The client ID its environment's identity provider knows it by (binds it at once).
    #[serde(default)]
    pub external_client_id: Option<String>,
    /// A user whose live permissions its external tokens carry.
    #[serde(default)]
    pub impersonate: Option<String>,
}

impl JsonRequest for CreateAppRequest {
    const FIELDS: &'static [FieldRule] = &[
        FieldRule::required("name", FieldKind::Text),
        FieldRule::optional("roles", FieldKind::TextList),
        FieldRule::optional("external_client_id", FieldKind::Text),
        FieldRule::optional("impersonate", FieldKind::Text),
    ];
}

/// `PUT .../client-apps/{client_id}/roles`: `{"roles": [...]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceAppRolesRequest {
    /// The app's new roles (names in its environment); `[]` removes them all.
    pub roles: Vec<String>,
}

impl JsonRequest for ReplaceAppRolesRequest {
    const FIELDS: &'static [FieldRule] = &[FieldRule::required("roles", FieldKind::TextList)];
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use keyward_domain::{AppId, AppName, ClientId, EnvironmentId, RoleName};

    use super::*;
    use crate::wire::request_tests::fields_match_serde_shape;

    #[test]
    fn request_shapes() {
        fields_match_serde_shape::<CreateAppRequest>();
        fields_match_serde_shape::<ReplaceAppRolesRequest>();
    }

    fn parse<T>(r: Result<T, keyward_domain::ValidationError>) -> T {
        r.unwrap_or_else(|e| panic!("{}", e.message))
    }

    #[test]
    fn created_app_body_is_the_app_then_its_secret() {
        let app = ClientApp {
            id: AppId(1),
            environment_id: EnvironmentId(1),
            name: parse(AppName::parse("billing bot")),
            client_id: parse(ClientId::parse("abc")),
            status: AppStatus::Active,
            roles: vec![parse(RoleName::parse("reader"))],
            created_at: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
            last_used_at: None,
            external_client_id: None,
            impersonate: None,
        };
        let body = CreatedAppBody {
            app: AppBody::new(app, &EnvironmentSlug::default_slug()),
            client_secret: "kwcs_x",
        };
        assert_eq!(
            serde_json::to_string(&body).ok().as_deref(),
            Some(concat!(
                r#"{"name":"billing bot","client_id":"abc","status":"ACTIVE","roles":["reader"],"#,
                r#""environment":"default","created_at":"1970-01-01T00:00:00Z","last_used_at":null,"#,
                r#""external_client_id":null,"impersonate":null,"client_secret":"kwcs_x"}"#
            ))
        );
    }
}
