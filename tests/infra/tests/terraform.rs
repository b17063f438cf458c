//! Infrastructure as code, exercised: every root is formatted and valid; the local root applies
//! to LocalStack and the whole AWS root to a moto server, what they applied is read back
//! (bucket policy, CORS, lifecycle, task environments, health checks), and both are destroyed.
//! The AWS root's alarms, dashboard and alarm topic are checked in [`monitoring`], the
//! processor's autoscaling in [`autoscaling`].
//! The tests of this file run in parallel: the two applies spend most of their time in the
//! provider's own waits.

mod autoscaling;
mod monitoring;

use std::collections::BTreeSet;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_infra_tests::{Moto, Resource, Terraform, cloudfront_client, s3_client, unique_prefix};

#[tokio::test]
async fn every_root_is_formatted_and_valid() -> Result<()> {
    let dir = vodnest_testkit::repo_root().join("infra/terraform");
    let fmt = std::process::Command::new("terraform")
        .args(["fmt", "-check", "-recursive", "-diff"])
        .arg(&dir)
        .output()
        .context("running terraform fmt")?;
    ensure!(
        fmt.status.success(),
        "terraform fmt -check found unformatted files:\n{}",
        String::from_utf8_lossy(&fmt.stdout)
    );
    let roots = Terraform::environments()?;
    ensure!(roots.contains(&"aws".into()) && roots.contains(&"local".into()));
    for name in roots {
        let root = Terraform::root(&name)?;
        root.init().await?;
        root.validate().await?;
    }
    Ok(())
}

#[tokio::test]
async fn local_root_applies_to_localstack_as_intended_and_destroys() -> Result<()> {
    let endpoint = vodnest_testkit::env("AWS_ENDPOINT_URL")?;
    let prefix = unique_prefix("tf");
    let origin = "http://127.0.0.1:3000";
    let mut local = Terraform::root("local")?
        .var("endpoint", &endpoint)
        .var("name_prefix", &prefix)
        .var("allowed_origins", &json!([origin]).to_string())
        .var("raw_lifecycle", "true")
        .destroy_on_drop();
    local.init().await?;
    local.apply().await?;

    let outputs = local.outputs().await?;
    let raw = outputs.string("raw_bucket")?;
    let media = outputs.string("media_bucket")?;
    assert_eq!(raw, format!("{prefix}-raw"));
    assert_eq!(
        outputs.string("media_base_url")?,
        format!("{}/{media}", endpoint.trim_end_matches('/'))
    );
    let s3 = s3_client(&endpoint);
    check_raw_bucket(&s3, &raw, origin, false).await?;
    check_encrypted_and_private(&s3, &raw, true).await?;
    // Locally viewers read public videos straight from the media bucket: anonymous reads of
    // videos/{id}/public/… and of nothing else (unlisted and private videos play through
    // presigned GETs). LocalStack does not enforce policies, so the policy is read back and
    // evaluated here.
    check_encrypted_and_private(&s3, &media, false).await?;
    let policy = bucket_policy(&s3, &media).await?;
    for (key, readable) in sample_media_keys() {
        assert_eq!(
            grants_anonymous_read(&policy, &media, &key),
            readable,
            "anonymous read of {key}: {policy}"
        );
    }

    local.destroy().await?;
    for bucket in [&raw, &media] {
        let gone = s3.head_bucket().bucket(bucket.as_str()).send().await;
        assert!(gone.is_err(), "{bucket} still exists after destroy");
    }
    Ok(())
}

#[tokio::test]
async fn aws_root_applies_to_moto_as_intended_and_destroys() -> Result<()> {
    let moto = Moto::start().await?;
    let prefix = unique_prefix("aws");
    let keys = tempfile::tempdir()?;
    let (private_pem, public_pem) = playback_key_pair(keys.path())?;
    let mut aws = Terraform::root("aws")?
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .var("aws_endpoint", &moto.endpoint)
        .var("name_prefix", &prefix)
        .var("api_image", "registry.example/vodnest-api:1")
        .var("processor_image", "registry.example/vodnest-processor:1")
        .var("database_password", "not-a-real-password")
        .var("admin_token", "not-a-real-token")
        .var("cloudfront_public_key_pem", &public_pem)
        .var("cloudfront_private_key_pem", &private_pem)
        .var("grpc_admin_cidr", ADMIN_CIDR)
        // moto has no CloudFront response-headers policies; the media bucket's CORS answers.
        .var("cdn_cors_headers_policy", "false")
        .var("database_deletion_protection", "false")
        .var("database_final_snapshot", "false")
        .var("alarm_email", monitoring::ALARM_EMAIL)
        .var(
            "processor_min_count",
            &autoscaling::FIRST_BOUNDS.0.to_string(),
        )
        .var(
            "processor_max_count",
            &autoscaling::FIRST_BOUNDS.1.to_string(),
        );
    aws.init().await?;
    aws.apply().await?;

    let outputs = aws.outputs().await?;
    let raw = outputs.string("raw_bucket")?;
    let media = outputs.string("media_bucket")?;
    let app_url = outputs.string("app_url")?;
    let media_base_url = outputs.string("media_base_url")?;
    assert!(media_base_url.starts_with("https://") && media_base_url.ends_with(".cloudfront.net"));

    // S3 as applied, read back from moto.
    let s3 = s3_client(&moto.endpoint);
    check_raw_bucket(&s3, &raw, &app_url, true).await?;
    check_encrypted_and_private(&s3, &raw, true).await?;
    check_encrypted_and_private(&s3, &media, true).await?;
    let resources = aws.resources().await?;
    let distribution = one(&resources, "module.cdn.aws_cloudfront_distribution.media")?;
    let policy = bucket_policy(&s3, &media).await?;
    assert_eq!(
        policy["Statement"],
        json!([{
            "Sid": "CloudFrontReadsMedia", "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{media}/videos/*"),
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution.values["arn"]}}
        }]),
        "only the distribution may read the media bucket: {policy}"
    );
    for (key, _) in sample_media_keys() {
        assert!(
            !grants_anonymous_read(&policy, &media, &key),
            "anonymous read of {key}: {policy}"
        );
    }

    let key_pair_id = outputs.string("cloudfront_key_pair_id")?;
    check_cdn(distribution, &resources, &key_pair_id, &public_pem)?;
    check_task_environments(&resources, &raw, &media, &media_base_url)?;
    check_playback_signing_key(&resources, &key_pair_id, &private_pem)?;
    check_load_balancer(&resources)?;
    check_processor_isolation(&resources)?;
    check_database(&resources)?;
    check_least_privilege(&resources)?;
    check_invalidation(&moto, distribution).await?;
    monitoring::check_monitoring(&moto, &resources, &outputs, &prefix).await?;
    autoscaling::check_autoscaling(
        &moto,
        &resources,
        &outputs,
        &prefix,
        autoscaling::FIRST_BOUNDS,
    )
    .await?;
    autoscaling::check_apply_keeps_task_count(&moto, &mut aws, &prefix, autoscaling::SECOND_BOUNDS)
        .await?;

    // moto creates key groups but cannot delete them: the key group leaves the state (and is
    // left in the throwaway moto) before the rest is destroyed.
    aws.forget(KEY_GROUP).await?;
    aws.destroy().await?;
    ensure!(
        aws.resources().await?.is_empty(),
        "resources left after destroy"
    );
    Ok(())
}

/// CORS for browser part uploads (ETag exposed) and the lifecycle rules of the raw bucket.
async fn check_raw_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    origin: &str,
    ages_raw_files: bool,
) -> Result<()> {
    let cors = s3.get_bucket_cors().bucket(bucket).send().await?;
    let [rule] = cors.cors_rules() else {
        anyhow::bail!("one CORS rule expected on {bucket}: {cors:?}");
    };
    assert_eq!(rule.allowed_origins(), [origin]);
    assert!(rule.allowed_methods().iter().any(|m| m == "PUT"));
    assert_eq!(rule.expose_headers(), ["ETag"]);

    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await?;
    let rules = lifecycle.rules();
    let abort = rules
        .iter()
        .find(|r| r.id() == Some("abort-incomplete-multipart-uploads"))
        .context("no rule aborting incomplete multipart uploads")?;
    assert_eq!(
        abort
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(7)
    );
    let aging = rules.iter().find(|r| r.id() == Some("age-raw-files"));
    assert_eq!(aging.is_some(), ages_raw_files, "{rules:?}");
    if let Some(aging) = aging {
        let [transition] = aging.transitions() else {
            anyhow::bail!("one transition expected: {aging:?}");
        };
        assert_eq!(transition.days(), Some(30));
        assert_eq!(
            transition.storage_class().map(|c| c.as_str()),
            Some("GLACIER_IR")
        );
    }
    Ok(())
}

/// SSE on, public ACLs blocked; public policies blocked unless the bucket is meant to be read
/// by anyone (the local media bucket).
async fn check_encrypted_and_private(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    private: bool,
) -> Result<()> {
    let encryption = s3.get_bucket_encryption().bucket(bucket).send().await?;
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_owned());
    assert_eq!(algorithm.as_deref(), Some("AES256"), "{bucket}");
    let block = s3.get_public_access_block().bucket(bucket).send().await?;
    let block = block
        .public_access_block_configuration()
        .context("no public access block")?;
    assert_eq!(block.block_public_acls(), Some(true), "{bucket}");
    assert_eq!(block.ignore_public_acls(), Some(true), "{bucket}");
    assert_eq!(block.block_public_policy(), Some(private), "{bucket}");
    assert_eq!(block.restrict_public_buckets(), Some(private), "{bucket}");
    Ok(())
}

async fn bucket_policy(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Value> {
    let policy = s3.get_bucket_policy().bucket(bucket).send().await?;
    Ok(serde_json::from_str(policy.policy().unwrap_or("{}"))?)
}

fn of_kind<'a>(resources: &'a [Resource], kind: &str) -> Vec<&'a Resource> {
    resources.iter().filter(|r| r.kind == kind).collect()
}

fn one<'a>(resources: &'a [Resource], address: &str) -> Result<&'a Resource> {
    resources
        .iter()
        .find(|r| r.address == address)
        .with_context(|| format!("no {address}"))
}

/// The distribution reads the bucket through its origin access control; playlists are cached
/// seconds, segments a day by default. videos/*/signed/* (first, so that it wins over
/// *.m3u8) needs a signature from the key group holding the operator's public key; everything
/// else is public.
fn check_cdn(
    distribution: &Resource,
    resources: &[Resource],
    key_pair_id: &str,
    public_pem: &str,
) -> Result<()> {
    let oac = one(
        resources,
        "module.cdn.aws_cloudfront_origin_access_control.media",
    )?;
    let origin = &distribution.values["origin"][0];
    assert_eq!(origin["origin_access_control_id"], oac.values["id"]);

    let public_key = one(resources, "module.cdn.aws_cloudfront_public_key.signing")?;
    assert_eq!(public_key.values["id"], key_pair_id);
    assert_eq!(
        public_key.values["encoded_key"].as_str().map(str::trim),
        Some(public_pem.trim())
    );
    let key_group = one(resources, KEY_GROUP)?;
    assert_eq!(key_group.values["items"], json!([key_pair_id]));

    let [signed, playlists] = distribution.values["ordered_cache_behavior"]
        .as_array()
        .context("ordered_cache_behavior")?
        .as_slice()
    else {
        anyhow::bail!("two ordered cache behaviors expected: {distribution:?}");
    };
    assert_eq!(signed["path_pattern"], "videos/*/signed/*");
    assert_eq!(
        signed["trusted_key_groups"],
        json!([key_group.values["id"]])
    );
    assert_eq!(signed["viewer_protocol_policy"], "redirect-to-https");
    // The signature's parameters stay out of the cache key: one cached copy for every viewer.
    assert_eq!(signed["forwarded_values"][0]["query_string"], false);
    assert_eq!(playlists["path_pattern"], "*.m3u8");
    assert_eq!(playlists["default_ttl"], 2);
    let default = &distribution.values["default_cache_behavior"][0];
    for public in [playlists, default] {
        ensure!(
            as_list(&public["trusted_key_groups"]).is_empty()
                && as_list(&public["trusted_signers"]).is_empty(),
            "public behaviors need no signature: {public}"
        );
    }
    assert_eq!(default["default_ttl"], 86400);
    assert_eq!(default["viewer_protocol_policy"], "redirect-to-https");
    Ok(())
}

/// The API (and only the API) gets the private key from Secrets Manager and the key pair id.
fn check_playback_signing_key(
    resources: &[Resource],
    key_pair_id: &str,
    private_pem: &str,
) -> Result<()> {
    let version = one(
        resources,
        r#"module.services.aws_secretsmanager_secret_version.environment["CLOUDFRONT_PRIVATE_KEY"]"#,
    )?;
    assert_eq!(version.values["secret_string"], private_pem);
    let secret = one(
        resources,
        r#"module.services.aws_secretsmanager_secret.environment["CLOUDFRONT_PRIVATE_KEY"]"#,
    )?;
    let api = container(resources, "api")?;
    assert!(
        api["environment"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["name"] == "CLOUDFRONT_KEY_PAIR_ID" && e["value"] == key_pair_id),
        "{api}"
    );
    assert!(
        api["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(
                |s| s["name"] == "CLOUDFRONT_PRIVATE_KEY" && s["valueFrom"] == secret.values["arn"]
            ),
        "{api}"
    );
    Ok(())
}

/// Each task's environment is the contract's variables (secrets included), nothing else.
fn check_task_environments(
    resources: &[Resource],
    raw: &str,
    media: &str,
    media_base_url: &str,
) -> Result<()> {
    let expected = [
        (
            "api",
            vec![
                "ADMIN_TOKEN",
                "API_ADDR",
                "AWS_REGION",
                "CLOUDFRONT_DISTRIBUTION_ID",
                "CLOUDFRONT_KEY_PAIR_ID",
                "CLOUDFRONT_PRIVATE_KEY",
                "CLOUDWATCH_METRICS",
                "CLOUDWATCH_STACK",
                "DATABASE_URL",
                "MAX_UPLOAD_BYTES",
                "MEDIA_BASE_URL",
                "MEDIA_BUCKET",
                "PUBLIC_URL",
                "RAW_BUCKET",
            ],
        ),
        (
            "processor",
            vec![
                "ADMIN_TOKEN",
                "AWS_REGION",
                "DATABASE_URL",
                "GRPC_ADDR",
                "MEDIA_BASE_URL",
                "MEDIA_BUCKET",
                "PROCESSOR_CONCURRENCY",
                "RAW_BUCKET",
                "SHUTDOWN_GRACE_SECS",
            ],
        ),
    ];
    for (service, names) in expected {
        let address = task_definition(service);
        let task = one(resources, &address)?;
        assert_eq!(task.values["requires_compatibilities"], json!(["FARGATE"]));
        let container = &container(resources, service)?;
        let environment: Vec<(&str, &str)> = container["environment"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or(""),
                    e["value"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let secrets = container["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["name"].as_str().unwrap_or(""));
        let all: BTreeSet<&str> = environment.iter().map(|(n, _)| *n).chain(secrets).collect();
        assert_eq!(all, names.iter().copied().collect(), "{address}");
        for (name, value) in [
            ("RAW_BUCKET", raw),
            ("MEDIA_BUCKET", media),
            ("MEDIA_BASE_URL", media_base_url),
        ] {
            assert!(environment.contains(&(name, value)), "{address}: {name}");
        }
        if names.contains(&"PUBLIC_URL") {
            // Without a domain the pages' origin is the load balancer's name (no certificate
            // here: plain http).
            let lb = one(resources, "module.services.aws_lb.api")?;
            let dns_name = lb.values["dns_name"].as_str().context("dns_name")?;
            let origin = format!("http://{dns_name}");
            assert!(
                environment.contains(&("PUBLIC_URL", origin.as_str())),
                "{address}: PUBLIC_URL {environment:?}"
            );
        }
        assert_eq!(container["logConfiguration"]["logDriver"], "awslogs");
    }
    Ok(())
}

/// Websockets survive long silences; only a ready API (/readyz) gets traffic.
fn check_load_balancer(resources: &[Resource]) -> Result<()> {
    let lb = one(resources, "module.services.aws_lb.api")?;
    assert_eq!(lb.values["idle_timeout"], 3600);
    assert_eq!(lb.values["internal"], false);
    let target = one(resources, "module.services.aws_lb_target_group.api")?;
    assert_eq!(target.values["health_check"][0]["path"], "/readyz");
    assert_eq!(target.values["port"], 3000);
    Ok(())
}

/// The processor runs in the private subnets without a public IP; its gRPC port admits the
/// API's security group and the admin range, nothing else; it reaches out only to S3 (the
/// gateway endpoint's prefix list), the interface endpoints and Postgres; the private subnets
/// have no route out of the VPC; the endpoints a private Fargate task needs are there.
fn check_processor_isolation(resources: &[Resource]) -> Result<()> {
    let id = |address: &str| -> Result<Value> { Ok(one(resources, address)?.values["id"].clone()) };
    let processor_sg = id("module.services.aws_security_group.processor")?;
    let api_sg = id("module.services.aws_security_group.api")?;
    let private_subnets: BTreeSet<String> = of_kind(resources, "aws_subnet")
        .into_iter()
        .filter(|s| s.address.starts_with("module.network.aws_subnet.private"))
        .filter_map(|s| s.values["id"].as_str().map(str::to_owned))
        .collect();
    ensure!(private_subnets.len() == 2, "{private_subnets:?}");

    for (service, public_ip, subnets_private) in [("processor", false, true), ("api", true, false)]
    {
        let ecs = one(
            resources,
            &format!("module.services.aws_ecs_service.{service}"),
        )?;
        let network = &ecs.values["network_configuration"][0];
        assert_eq!(
            network["assign_public_ip"], public_ip,
            "{service}: {network}"
        );
        let subnets: BTreeSet<String> = as_list(&network["subnets"]).into_iter().collect();
        assert_eq!(
            subnets == private_subnets,
            subnets_private,
            "{service}: {network}"
        );
    }

    let rules_of = |kind: &str| -> Vec<&Value> {
        of_kind(resources, kind)
            .into_iter()
            .map(|r| &r.values)
            .filter(|v| v["security_group_id"] == processor_sg)
            .collect()
    };
    let ingress: BTreeSet<String> = rules_of("aws_vpc_security_group_ingress_rule")
        .into_iter()
        .map(|rule| {
            assert_eq!(
                (&rule["from_port"], &rule["to_port"]),
                (&json!(50051), &json!(50051))
            );
            assert_eq!(rule["ip_protocol"], "tcp");
            let source = [&rule["referenced_security_group_id"], &rule["cidr_ipv4"]];
            source
                .iter()
                .find_map(|v| v.as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    let expected: BTreeSet<String> = [api_sg.as_str().unwrap_or("api sg?"), ADMIN_CIDR]
        .map(str::to_owned)
        .into();
    assert_eq!(
        ingress, expected,
        "gRPC only from the API and the admin range"
    );

    let s3 = one(resources, "module.network.aws_vpc_endpoint.s3")?;
    let endpoints_sg = id("module.network.aws_security_group.endpoints")?;
    let db_sg = id("module.database.aws_security_group.db")?;
    // Each rule as "port to prefix-list-or-security-group".
    let egress: BTreeSet<String> = rules_of("aws_vpc_security_group_egress_rule")
        .into_iter()
        .map(|rule| {
            assert_eq!(rule["ip_protocol"], "tcp", "{rule}");
            assert_eq!(rule["cidr_ipv4"], Value::Null, "no address range: {rule}");
            assert_eq!(rule["from_port"], rule["to_port"], "{rule}");
            let to = [
                &rule["prefix_list_id"],
                &rule["referenced_security_group_id"],
            ];
            format!(
                "{} to {}",
                rule["from_port"],
                to.iter().find_map(|v| v.as_str()).unwrap_or("?")
            )
        })
        .collect();
    let expected: BTreeSet<String> = [
        (443, &s3.values["prefix_list_id"]),
        (443, &endpoints_sg),
        (5432, &db_sg),
    ]
    .iter()
    .map(|(port, to)| format!("{port} to {}", to.as_str().unwrap_or("missing")))
    .collect();
    assert_eq!(egress, expected, "the processor's only ways out");

    let private_routes = one(resources, "module.network.aws_route_table.private")?;
    assert_eq!(
        private_routes.values["route"],
        json!([]),
        "no way out of the VPC"
    );
    let endpoints: BTreeSet<String> = of_kind(resources, "aws_vpc_endpoint")
        .into_iter()
        .filter(|e| e.values["vpc_endpoint_type"] == "Interface")
        .map(|e| {
            assert_eq!(e.values["private_dns_enabled"], true);
            let subnets: BTreeSet<String> = as_list(&e.values["subnet_ids"]).into_iter().collect();
            assert_eq!(subnets, private_subnets);
            e.values["service_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let needed = ["ecr.api", "ecr.dkr", "logs", "secretsmanager"]
        .map(|service| format!("com.amazonaws.us-east-1.{service}"))
        .into();
    assert_eq!(endpoints, needed);
    Ok(())
}

fn check_database(resources: &[Resource]) -> Result<()> {
    let db = one(resources, "module.database.aws_db_instance.main")?;
    assert_eq!(db.values["engine"], "postgres");
    assert_eq!(db.values["publicly_accessible"], false);
    assert_eq!(db.values["storage_encrypted"], true);
    Ok(())
}

/// The API may touch raw/* (and delete videos/*); the processor reads raw/* and writes
/// videos/*; neither gets a wildcard action or a whole bucket's objects.
/// The API's invalidation of a version's prefix reaches the distribution as one wildcard path.
async fn check_invalidation(moto: &Moto, distribution: &Resource) -> Result<()> {
    let id = distribution.values["id"]
        .as_str()
        .context("distribution id")?;
    let cdn = vodnest_core::cdn::Cdn::new(cloudfront_client(&moto.endpoint), id);
    let prefix = "videos/0192f0c4-7d1e-7a4e-9c1a-5f2d3e4b5a6c/public/1/";
    let invalidation = cdn.invalidate(prefix).await?;
    let got = cdn
        .client()
        .get_invalidation()
        .distribution_id(id)
        .id(&invalidation)
        .send()
        .await?;
    let paths = got
        .invalidation()
        .and_then(|i| i.invalidation_batch())
        .and_then(|b| b.paths())
        .map(|p| p.items().to_vec())
        .unwrap_or_default();
    ensure!(paths == [format!("/{prefix}*")], "{paths:?}");
    Ok(())
}

fn check_least_privilege(resources: &[Resource]) -> Result<()> {
    for (address, writes) in [
        (
            r#"module.services.aws_iam_role_policy.task["api"]"#,
            "/raw/*",
        ),
        (
            r#"module.services.aws_iam_role_policy.task["processor"]"#,
            "/videos/*",
        ),
    ] {
        let policy = one(resources, address)?;
        let document: Value =
            serde_json::from_str(policy.values["policy"].as_str().context("policy")?)?;
        let statements = document["Statement"].as_array().context("statements")?;
        for statement in statements {
            let actions = as_list(&statement["Action"]);
            let targets = as_list(&statement["Resource"]);
            // S3 actions by name; and the API's invalidations, of its distribution only.
            let invalidates = actions == ["cloudfront:CreateInvalidation"]
                && targets
                    .iter()
                    .all(|r| r.starts_with("arn:aws:cloudfront:") && r.contains(":distribution/"));
            ensure!(
                invalidates
                    || actions
                        .iter()
                        .all(|a| a.starts_with("s3:") && !a.contains('*')),
                "{address}: {statement}"
            );
            ensure!(
                targets.iter().all(|r| !r.ends_with(":::*")
                    && !r.ends_with("-raw/*")
                    && !r.ends_with("-media/*")),
                "{address} reaches a whole bucket: {statement}"
            );
            if actions.iter().any(|a| a == "s3:PutObject") {
                ensure!(
                    targets.iter().all(|r| r.ends_with(writes)),
                    "{address}: {statement}"
                );
            }
        }
    }
    Ok(())
}

fn as_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

const KEY_GROUP: &str = "module.cdn.aws_cloudfront_key_group.signing";

/// The operators' range given to `grpc_admin_cidr` (TEST-NET-1).
const ADMIN_CIDR: &str = "192.0.2.0/24";

fn task_definition(service: &str) -> String {
    format!(r#"module.services.aws_ecs_task_definition.service["{service}"]"#)
}

/// The one container of a service's task definition.
fn container(resources: &[Resource], service: &str) -> Result<Value> {
    let task = one(resources, &task_definition(service))?;
    let containers: Value = serde_json::from_str(
        task.values["container_definitions"]
            .as_str()
            .context("container_definitions")?,
    )?;
    Ok(containers[0].clone())
}

/// A playback key pair made with the `openssl` CLI, as the README tells operators to:
/// (private PEM, public PEM).
fn playback_key_pair(dir: &std::path::Path) -> Result<(String, String)> {
    for args in [
        &["genrsa", "-out", "playback.pem", "2048"][..],
        &[
            "rsa",
            "-in",
            "playback.pem",
            "-pubout",
            "-out",
            "playback.pub.pem",
        ],
    ] {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .context("running openssl (./dev installs it)")?;
        ensure!(out.status.success(), "openssl {args:?}: {out:?}");
    }
    Ok((
        std::fs::read_to_string(dir.join("playback.pem"))?,
        std::fs::read_to_string(dir.join("playback.pub.pem"))?,
    ))
}

/// Keys of a public and of a signed (unlisted or private) video's version, and whether anyone
/// may read them in a bucket that serves public videos directly. The last one would slip
/// through a policy whose Resource is `videos/*/public/*`: a policy's `*` spans `/`.
fn sample_media_keys() -> [(String, bool); 4] {
    let id = "0190c7a2-5b1e-7c3d-9f00-123456789abc";
    [
        (format!("videos/{id}/public/1/master.m3u8"), true),
        (format!("videos/{id}/signed/1/master.m3u8"), false),
        (format!("videos/{id}/signed/2/720p/seg_00001.m4s"), false),
        (format!("videos/{id}/signed/1/public/master.m3u8"), false),
    ]
}

/// Whether a statement of `policy` lets anyone (no credentials) `s3:GetObject` the object
/// `key` of `bucket`. Conservative: a statement with a Condition or a Not* element still
/// counts as granting; Deny statements are not subtracted.
fn grants_anonymous_read(policy: &Value, bucket: &str, key: &str) -> bool {
    let arn = format!("arn:aws:s3:::{bucket}/{key}");
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    };
    statements.iter().any(|statement| {
        let anyone = match &statement["Principal"] {
            Value::String(p) => p == "*",
            Value::Object(p) => as_list(&p.get("AWS").cloned().unwrap_or(Value::Null))
                .iter()
                .any(|a| a == "*"),
            _ => false,
        } || !statement["NotPrincipal"].is_null();
        let reads = as_list(&statement["Action"])
            .iter()
            .any(|a| wildcard_match(&a.to_ascii_lowercase(), "s3:getobject"))
            || !statement["NotAction"].is_null();
        let covers = as_list(&statement["Resource"])
            .iter()
            .any(|r| wildcard_match(r, &arn))
            || !statement["NotResource"].is_null();
        statement["Effect"] == "Allow" && anyone && reads && covers
    })
}

/// IAM's wildcards: `*` any run of characters (`/` included), `?` any one character.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    // matches[j]: pattern[..i] matches text[..j], row by row over i.
    let mut matches = vec![false; text.len() + 1];
    matches[0] = true;
    for p in pattern {
        let previous = matches.clone();
        matches[0] = previous[0] && p == '*';
        for j in 1..=text.len() {
            matches[j] = match p {
                '*' => matches[j - 1] || previous[j],
                '?' => previous[j - 1],
                c => previous[j - 1] && c == text[j - 1],
            };
        }
    }
    matches[text.len()]
}

#[test]
fn wildcards_match_as_iam_does() {
    for (pattern, text, expected) in [
        (
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/videos/x/signed/1/a",
            true,
        ),
        ("videos/*/public/*", "videos/x/signed/1/public/a", true),
        ("videos/???/public/*", "videos/abc/public/1/a", true),
        ("videos/???/public/*", "videos/x/signed/1/public/a", false),
        ("videos/*/public/*", "videos/x/signed/1/a", false),
        ("*", "", true),
        ("a?", "a", false),
    ] {
        assert_eq!(
            wildcard_match(pattern, text),
            expected,
            "{pattern} ~ {text}"
        );
    }
}
