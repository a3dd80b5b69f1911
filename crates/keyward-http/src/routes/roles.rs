//! `/api/v1/environments/{env}/roles`.

use actix_web::{web, HttpRequest, HttpResponse};
use keyward_core::Keyward;

use super::{page, resource, run, RolesManage, RolesRead};
use crate::body::{query_pairs, Fields, ListParams};
use crate::error::ApiError;
use crate::Authorized;

async fn list(
    _auth: Authorized<RolesRead>,
    path: web::Path<String>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let p = ListParams::parse(&req)?;
    Ok(page(
        run(&core, move |k| {
            k.list_roles(&env, p.order, p.limit, p.cursor)
        })
        .await?,
    ))
}

async fn create(
    auth: Authorized<RolesManage>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let env = path.into_inner();
    let mut f = Fields::read(&req, payload, false).await?;
    let (name, permissions) = (f.string("name", true), f.string_list("permissions", true));
    f.finish()?;
    let principal = auth.principal;
    let role = run(&core, move |k| {
        k.create_role(
            &principal,
            &env,
            &name.unwrap_or_default(),
            &permissions.unwrap_or_default(),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(role))
}

async fn get(
    _auth: Authorized<RolesRead>,
    path: web::Path<(String, String)>,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, name) = path.into_inner();
    Ok(HttpResponse::Ok().json(run(&core, move |k| k.get_role(&env, &name)).await?))
}

async fn replace(
    auth: Authorized<RolesManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, name) = path.into_inner();
    let mut f = Fields::read(&req, payload, false).await?;
    let permissions = f.string_list("permissions", true);
    // A client may send the whole role back; its name must stay the same.
    let same_name = f.string("name", false);
    if same_name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::invalid(vec![(
            "name".into(),
            "roles cannot be renamed".into(),
        )]));
    }
    f.finish()?;
    let principal = auth.principal;
    Ok(HttpResponse::Ok().json(
        run(&core, move |k| {
            k.replace_role(&principal, &env, &name, &permissions.unwrap_or_default())
        })
        .await?,
    ))
}

async fn delete(
    auth: Authorized<RolesManage>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    core: web::Data<Keyward>,
) -> Result<HttpResponse, ApiError> {
    let (env, name) = path.into_inner();
    let mut force = false;
    for (k, v) in query_pairs(&req) {
        if k == "force" {
            force = match v.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ApiError::invalid(vec![(
                        "force".into(),
                        "must be `true` or `false`".into(),
                    )]))
                }
            };
        }
    }
    let principal = auth.principal;
    run(&core, move |k| {
        k.delete_role(&principal, &env, &name, force)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/environments/{env}/roles").get(list).post(create))
        .service(
            resource("/environments/{env}/roles/{role}")
                .get(get)
                .put(replace)
                .delete(delete),
        );
}
