//! The monitoring module as applied to moto: the alarms (read back with DescribeAlarms), the
//! dashboard (GetDashboard), the alarm topic, and the EventBridge rule that counts API task
//! restarts, fed ECS task events through moto's own pattern matching.

use std::collections::BTreeSet;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_core::cloudwatch;
use vodnest_infra_tests::{JsonService, Moto, Outputs, Resource};

use super::autoscaling::SCALING_ALARMS;
use super::{as_list, container, one};

const RULE: &str = "module.monitoring.aws_cloudwatch_event_rule.api_task_stopped";

/// Everything the monitoring module made, `prefix` being the stack's name prefix.
pub async fn check_monitoring(
    moto: &Moto,
    resources: &[Resource],
    outputs: &Outputs,
    prefix: &str,
) -> Result<()> {
    let topic = outputs.string("alarm_topic_arn")?;
    check_queue_metric(resources, outputs, prefix)?;
    check_alarms(moto, resources, &topic, prefix).await?;
    check_dashboard(moto, prefix).await?;
    check_topic(resources, &topic)?;
    check_api_task_stops(moto, resources, &topic, prefix).await
}

/// The metric the outputs hand to autoscaling is the one the API publishes: the names the
/// Rust emitter writes, the Stack its task definition sets, and the processor publishes none.
fn check_queue_metric(resources: &[Resource], outputs: &Outputs, prefix: &str) -> Result<()> {
    let metric = outputs.value("queue_metric")?;
    assert_eq!(
        metric,
        &json!({
            "namespace": cloudwatch::NAMESPACE,
            "names": {
                "queue_depth": cloudwatch::QUEUE_DEPTH,
                "oldest_queued_job_age": cloudwatch::OLDEST_QUEUED_JOB_AGE,
                "jobs_failed": cloudwatch::JOBS_FAILED,
            },
            "dimensions": {cloudwatch::STACK_DIMENSION: prefix},
            "statistic": "Maximum",
        })
    );
    let api = container(resources, "api")?;
    let environment = &api["environment"];
    for (name, value) in [("CLOUDWATCH_METRICS", "emf"), ("CLOUDWATCH_STACK", prefix)] {
        ensure!(
            environment
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["name"] == name && e["value"] == value),
            "the API publishes the queue metric: {name}={value} in {environment}"
        );
    }
    Ok(())
}

/// One alarm per failure the README's "Alarms" names, each telling the topic when it fires
/// and when it clears, on the metrics it is documented to watch.
async fn check_alarms(
    moto: &Moto,
    resources: &[Resource],
    topic: &str,
    prefix: &str,
) -> Result<()> {
    let answer = moto
        .call(
            JsonService::CloudWatch,
            "DescribeAlarms",
            json!({"AlarmNamePrefix": prefix}),
        )
        .await?;
    // The processor's scaling alarms are autoscaling's (they notify no one).
    let scaling = SCALING_ALARMS.map(|name| format!("{prefix}-{name}"));
    let alarms: Vec<&Value> = answer["MetricAlarms"]
        .as_array()
        .context("MetricAlarms")?
        .iter()
        .filter(|a| !scaling.iter().any(|name| a["AlarmName"] == name.as_str()))
        .collect();
    let names: BTreeSet<&str> = alarms
        .iter()
        .filter_map(|a| a["AlarmName"].as_str())
        .collect();
    let expected = [
        "api-task-restarts",
        "failed-jobs",
        "http-5xx-rate",
        "oldest-queued-job",
    ]
    .map(|name| format!("{prefix}-{name}"));
    assert_eq!(
        names,
        expected.iter().map(String::as_str).collect(),
        "{answer}"
    );
    for alarm in &alarms {
        assert_eq!(alarm["AlarmActions"], json!([topic]), "{alarm}");
        assert_eq!(alarm["OKActions"], json!([topic]), "{alarm}");
    }
    let alarm = |name: &str| -> Result<&Value> {
        let full = format!("{prefix}-{name}");
        alarms
            .iter()
            .find(|a| a["AlarmName"] == full.as_str())
            .copied()
            .with_context(|| format!("no alarm {full}"))
    };
    let stack = json!([{"Name": "Stack", "Value": prefix}]);

    let oldest = alarm("oldest-queued-job")?;
    assert_eq!(oldest["Namespace"], "vodnest");
    assert_eq!(oldest["MetricName"], "OldestQueuedJobAge");
    assert_eq!(oldest["Dimensions"], stack);
    // Several API tasks publish the same value: Maximum, never Sum.
    assert_eq!(oldest["Statistic"], "Maximum");
    assert_eq!(oldest["Threshold"], 1800.0);
    assert_eq!(oldest["ComparisonOperator"], "GreaterThanThreshold");

    let failed = alarm("failed-jobs")?;
    assert_eq!(failed["Threshold"], 3.0);
    assert_eq!(
        failed["ComparisonOperator"],
        "GreaterThanOrEqualToThreshold"
    );
    let queries = failed["Metrics"]
        .as_array()
        .context("failed-jobs Metrics")?;
    let per_minute = queries
        .iter()
        .find(|q| q["Id"] == "per_minute")
        .context("per_minute")?;
    assert_eq!(
        per_minute["MetricStat"],
        json!({
            "Metric": {"Namespace": "vodnest", "MetricName": "JobsFailed", "Dimensions": stack},
            "Period": 900, "Stat": "Average",
        })
    );
    let returned: Vec<&Value> = queries.iter().filter(|q| q["ReturnData"] == true).collect();
    assert_eq!(returned.len(), 1, "{failed}");
    assert_eq!(returned[0]["Expression"], "per_minute * 15");

    let http = alarm("http-5xx-rate")?;
    assert_eq!(http["Threshold"], 5.0);
    let lb = one(resources, "module.services.aws_lb.api")?;
    let load_balancer = json!([{"Name": "LoadBalancer", "Value": lb.values["arn_suffix"]}]);
    let queries = http["Metrics"]
        .as_array()
        .context("http-5xx-rate Metrics")?;
    let watched: BTreeSet<&str> = queries
        .iter()
        .filter(|q| q["Expression"].is_null())
        .filter_map(|q| {
            let stat = &q["MetricStat"];
            assert_eq!(stat["Metric"]["Namespace"], "AWS/ApplicationELB", "{q}");
            assert_eq!(stat["Metric"]["Dimensions"], load_balancer, "{q}");
            stat["Metric"]["MetricName"].as_str()
        })
        .collect();
    assert_eq!(
        watched,
        [
            "HTTPCode_ELB_5XX_Count",
            "HTTPCode_Target_5XX_Count",
            "RequestCount"
        ]
        .into()
    );
    let rate = queries
        .iter()
        .find(|q| q["ReturnData"] == true)
        .context("the returned 5xx rate")?;
    let expression = rate["Expression"].as_str().unwrap_or_default();
    assert!(
        expression.starts_with("IF(total >= 20, 100 * ") && expression.ends_with("/ total, 0)"),
        "{expression}"
    );

    let restarts = alarm("api-task-restarts")?;
    let rule = one(resources, RULE)?;
    assert_eq!(restarts["Namespace"], "AWS/Events");
    assert_eq!(restarts["MetricName"], "MatchedEvents");
    assert_eq!(
        restarts["Dimensions"],
        json!([{"Name": "RuleName", "Value": rule.values["name"]}])
    );
    assert_eq!(restarts["Statistic"], "Sum");
    assert_eq!(restarts["Threshold"], 2.0);
    Ok(())
}

/// The dashboard shows the four alarms and graphs the queue (with the published dimension,
/// at Maximum), the requests and their latency.
async fn check_dashboard(moto: &Moto, prefix: &str) -> Result<()> {
    let answer = moto
        .call(
            JsonService::CloudWatch,
            "GetDashboard",
            json!({"DashboardName": prefix}),
        )
        .await?;
    let body: Value =
        serde_json::from_str(answer["DashboardBody"].as_str().context("DashboardBody")?)?;
    let widgets = body["widgets"].as_array().context("widgets")?;
    let alarms = widgets
        .iter()
        .find(|w| w["type"] == "alarm")
        .context("an alarm widget")?;
    assert_eq!(
        as_list(&alarms["properties"]["alarms"]).len(),
        4,
        "{alarms}"
    );
    let graphed = |metric: &str| -> Vec<&Value> {
        widgets
            .iter()
            .filter(|w| {
                w["properties"]["metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|line| line[1] == metric)
            })
            .collect()
    };
    for metric in [
        cloudwatch::QUEUE_DEPTH,
        cloudwatch::OLDEST_QUEUED_JOB_AGE,
        cloudwatch::JOBS_FAILED,
    ] {
        let found = graphed(metric);
        let [widget] = found.as_slice() else {
            anyhow::bail!("one widget of {metric} expected: {body}");
        };
        let properties = &widget["properties"];
        assert_eq!(properties["stat"], "Maximum", "{widget}");
        assert_eq!(
            properties["metrics"][0],
            json!(["vodnest", metric, "Stack", prefix]),
            "{widget}"
        );
    }
    for metric in ["RequestCount", "TargetResponseTime", "MatchedEvents"] {
        ensure!(!graphed(metric).is_empty(), "no graph of {metric}: {body}");
    }
    for widget in widgets {
        for key in ["x", "y", "width", "height"] {
            ensure!(widget[key].is_u64(), "{key} of {widget}");
        }
    }
    Ok(())
}

/// The optional email subscription, and a topic policy that lets the alarms and the rule
/// publish, nobody else.
fn check_topic(resources: &[Resource], topic: &str) -> Result<()> {
    let email = one(
        resources,
        "module.monitoring.aws_sns_topic_subscription.email[0]",
    )?;
    assert_eq!(email.values["protocol"], "email");
    assert_eq!(email.values["endpoint"], ALARM_EMAIL);
    assert_eq!(email.values["topic_arn"], topic);
    let policy = one(resources, "module.monitoring.aws_sns_topic_policy.alarms")?;
    let document: Value =
        serde_json::from_str(policy.values["policy"].as_str().context("policy")?)?;
    let publishers: BTreeSet<&str> = document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            assert_eq!(s["Action"], "sns:Publish", "{s}");
            assert_eq!(s["Resource"], topic, "{s}");
            ensure!(
                s["Condition"].is_object(),
                "each publisher limited to its source: {s}"
            );
            s["Principal"]["Service"].as_str().context("a service")
        })
        .collect::<Result<_>>()?;
    assert_eq!(
        publishers,
        ["cloudwatch.amazonaws.com", "events.amazonaws.com"].into()
    );
    Ok(())
}

/// ECS task events put on moto's bus: an API task whose container exited and one that failed
/// its health checks count (and reach the topic with their reason); a deployment's stop, a
/// processor's and a task still running do not. moto cannot deliver to an SNS target, so the
/// rule's target is swapped for a queue with the same input transformer while the events
/// are put, then put back.
async fn check_api_task_stops(
    moto: &Moto,
    resources: &[Resource],
    topic: &str,
    prefix: &str,
) -> Result<()> {
    let rule = one(resources, RULE)?.values["name"]
        .as_str()
        .context("rule name")?
        .to_owned();
    let targets = moto
        .call(
            JsonService::EventBridge,
            "ListTargetsByRule",
            json!({"Rule": rule}),
        )
        .await?;
    let [target] = targets["Targets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        anyhow::bail!("one target expected: {targets}");
    };
    assert_eq!(target["Arn"], topic);

    let queue = format!("{prefix}-stops");
    let created = moto
        .call(JsonService::Sqs, "CreateQueue", json!({"QueueName": queue}))
        .await?;
    let queue_url = created["QueueUrl"].as_str().context("QueueUrl")?;
    let probe = json!({
        "Id": "probe",
        "Arn": format!("arn:aws:sqs:us-east-1:123456789012:{queue}"),
        "InputTransformer": target["InputTransformer"],
    });
    swap_target(moto, &rule, &target["Id"], probe).await?;

    let cluster = one(resources, "module.services.aws_ecs_cluster.main")?.values["arn"].clone();
    let stops = [
        (
            "service:api",
            "STOPPED",
            "EssentialContainerExited",
            "Essential container in task exited",
        ),
        (
            "service:api",
            "STOPPED",
            "ServiceSchedulerInitiated",
            "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1)",
        ),
        (
            "service:api",
            "STOPPED",
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/1234567890)",
        ),
        (
            "service:processor",
            "STOPPED",
            "EssentialContainerExited",
            "Essential container in task exited",
        ),
        (
            "service:api",
            "RUNNING",
            "TaskFailedToStart",
            "not stopped yet",
        ),
    ];
    let entries: Vec<Value> = stops
        .iter()
        .enumerate()
        .map(|(n, (group, status, code, reason))| {
            let detail = json!({
                "clusterArn": cluster, "group": group, "lastStatus": status,
                "taskArn": format!("task-{n}"), "stopCode": code, "stoppedReason": reason,
            });
            json!({"Source": "aws.ecs", "DetailType": "ECS Task State Change",
                   "Detail": detail.to_string()})
        })
        .collect();
    let put = moto
        .call(
            JsonService::EventBridge,
            "PutEvents",
            json!({"Entries": entries}),
        )
        .await?;
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let received = moto
        .call(
            JsonService::Sqs,
            "ReceiveMessage",
            json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
        )
        .await?;
    let messages: BTreeSet<String> = received["Messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| serde_json::from_str::<String>(m["Body"].as_str().unwrap_or("null")))
        .collect::<serde_json::Result<_>>()?;
    let expected: BTreeSet<String> = stops[..2]
        .iter()
        .enumerate()
        .map(|(n, (_, _, code, reason))| {
            format!("vodnest {prefix}: API task task-{n} stopped ({code}): {reason}")
        })
        .collect();
    assert_eq!(messages, expected, "{received}");

    swap_target(moto, &rule, &json!("probe"), target.clone()).await
}

/// Replaces the rule's target `old_id` with `new`.
async fn swap_target(moto: &Moto, rule: &str, old_id: &Value, new: Value) -> Result<()> {
    moto.call(
        JsonService::EventBridge,
        "RemoveTargets",
        json!({"Rule": rule, "Ids": [old_id]}),
    )
    .await?;
    let put = moto
        .call(
            JsonService::EventBridge,
            "PutTargets",
            json!({"Rule": rule, "Targets": [new]}),
        )
        .await?;
    ensure!(put["FailedEntryCount"] == 0, "{put}");
    Ok(())
}

/// The address given to `alarm_email`.
pub const ALARM_EMAIL: &str = "ops@example.com";
