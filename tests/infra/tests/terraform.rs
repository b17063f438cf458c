//! Infrastructure as code, exercised: every root is formatted and valid; the local root applies
//! to LocalStack and the whole AWS root to a moto server, what they applied is read back
//! (bucket policy, CORS, lifecycle, task environments, health checks), and both are destroyed.
//! The tests of this file run in parallel: the two applies spend most of their time in the
//! provider's own waits.

use std::collections::BTreeSet;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_infra_tests::{Moto, Resource, Terraform, s3_client, unique_prefix};

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
    // Locally viewers read the media bucket directly: public read of objects, nothing more.
    check_encrypted_and_private(&s3, &media, false).await?;
    let policy = bucket_policy(&s3, &media).await?;
    assert_eq!(
        policy["Statement"],
        json!([{
            "Sid": "PublicReadForPlayback", "Effect": "Allow", "Principal": "*",
            "Action": ["s3:GetObject"], "Resource": [format!("arn:aws:s3:::{media}/*")]
        }]),
        "{policy}"
    );

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
    let mut aws = Terraform::root("aws")?
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .var("aws_endpoint", &moto.endpoint)
        .var("name_prefix", &prefix)
        .var("api_image", "registry.example/vodnest-api:1")
        .var("processor_image", "registry.example/vodnest-processor:1")
        .var("database_password", "not-a-real-password")
        .var("admin_token", "not-a-real-token")
        // moto has no CloudFront response-headers policies; the media bucket's CORS answers.
        .var("cdn_cors_headers_policy", "false")
        .var("database_deletion_protection", "false")
        .var("database_final_snapshot", "false");
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
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{media}/*"),
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution.values["arn"]}}
        }]),
        "only the distribution may read the media bucket: {policy}"
    );

    check_cdn(distribution, &resources)?;
    check_task_environments(&resources, &raw, &media, &media_base_url)?;
    check_load_balancer(&resources)?;
    check_database(&resources)?;
    check_least_privilege(&resources)?;

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
        Some(1)
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
/// seconds, segments a day by default.
fn check_cdn(distribution: &Resource, resources: &[Resource]) -> Result<()> {
    let oac = one(
        resources,
        "module.cdn.aws_cloudfront_origin_access_control.media",
    )?;
    let origin = &distribution.values["origin"][0];
    assert_eq!(origin["origin_access_control_id"], oac.values["id"]);
    let playlists = &distribution.values["ordered_cache_behavior"][0];
    assert_eq!(playlists["path_pattern"], "*.m3u8");
    assert_eq!(playlists["default_ttl"], 2);
    assert_eq!(
        distribution.values["default_cache_behavior"][0]["default_ttl"],
        86400
    );
    assert_eq!(
        distribution.values["default_cache_behavior"][0]["viewer_protocol_policy"],
        "redirect-to-https"
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
            r#"module.services.aws_ecs_task_definition.service["api"]"#,
            vec![
                "ADMIN_TOKEN",
                "API_ADDR",
                "AWS_REGION",
                "DATABASE_URL",
                "MAX_UPLOAD_BYTES",
                "MEDIA_BASE_URL",
                "MEDIA_BUCKET",
                "PUBLIC_URL",
                "RAW_BUCKET",
            ],
        ),
        (
            r#"module.services.aws_ecs_task_definition.service["processor"]"#,
            vec![
                "ADMIN_TOKEN",
                "AWS_REGION",
                "DATABASE_URL",
                "GRPC_ADDR",
                "MEDIA_BASE_URL",
                "MEDIA_BUCKET",
                "PROCESSOR_CONCURRENCY",
                "RAW_BUCKET",
            ],
        ),
    ];
    for (address, names) in expected {
        let task = one(resources, address)?;
        assert_eq!(task.values["requires_compatibilities"], json!(["FARGATE"]));
        let containers: Value = serde_json::from_str(
            task.values["container_definitions"]
                .as_str()
                .context("container_definitions")?,
        )?;
        let container = &containers[0];
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
    // gRPC is reachable from inside the VPC only.
    let grpc = of_kind(resources, "aws_vpc_security_group_ingress_rule")
        .into_iter()
        .filter(|r| r.values["from_port"] == 50051)
        .collect::<Vec<_>>();
    let vpc = one(resources, "module.network.aws_vpc.main")?;
    ensure!(!grpc.is_empty());
    for rule in grpc {
        assert_eq!(rule.values["cidr_ipv4"], vpc.values["cidr_block"]);
    }
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
            ensure!(
                actions
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
