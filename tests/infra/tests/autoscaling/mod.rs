//! The processor's autoscaling as applied to moto: the scalable target's bounds, the two step
//! policies and the alarms on the API's queue metric that invoke them (read back with
//! DescribeScalableTargets, DescribeScalingPolicies and DescribeAlarms); an apply would leave
//! the task count where autoscaling put it; the processor's shutdown grace fits in its
//! stopTimeout.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_core::cloudwatch;
use vodnest_infra_tests::{JsonService, Moto, Outputs, Resource, Terraform};

use super::container;

/// The two scaling alarms' names after the stack's prefix (they notify no one).
pub const SCALING_ALARMS: [&str; 2] = ["processor-scale-in", "processor-scale-out"];

/// Everything about the processor's scaling, `min` and `max` being the bounds applied.
pub async fn check_autoscaling(
    moto: &Moto,
    resources: &[Resource],
    outputs: &Outputs,
    prefix: &str,
    (min, max): (u64, u64),
) -> Result<()> {
    let target = scalable_target(moto).await?;
    let resource_id = format!("service/{prefix}/processor");
    assert_eq!(target["ResourceId"], resource_id.as_str(), "{target}");
    assert_eq!(target["ScalableDimension"], "ecs:service:DesiredCount");
    assert_eq!(
        (&target["MinCapacity"], &target["MaxCapacity"]),
        (&json!(min), &json!(max)),
        "{target}"
    );
    assert_eq!(
        outputs.value("processor_autoscaling")?,
        &json!({
            "resource_id": resource_id, "min_count": min, "max_count": max,
            "scale_out_alarm": format!("{prefix}-processor-scale-out"),
            "scale_in_alarm": format!("{prefix}-processor-scale-in"),
        })
    );

    let policies = moto
        .call(
            JsonService::ApplicationAutoScaling,
            "DescribeScalingPolicies",
            json!({"ServiceNamespace": "ecs", "ResourceId": resource_id}),
        )
        .await?;
    let policy = |name: &str| -> Result<&Value> {
        let full = format!("{prefix}-processor-{name}");
        policies["ScalingPolicies"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["PolicyName"] == full.as_str())
            .with_context(|| format!("no policy {full}: {policies}"))
    };
    let (out, scale_in) = (policy("scale-out")?, policy("scale-in")?);
    let stop_timeout = check_shutdown_grace(resources)?;
    for (policy, cooldown) in [(out, 120), (scale_in, stop_timeout)] {
        assert_eq!(policy["PolicyType"], "StepScaling", "{policy}");
        let config = &policy["StepScalingPolicyConfiguration"];
        assert_eq!(config["AdjustmentType"], "ChangeInCapacity", "{policy}");
        // Several API tasks publish the same value: Maximum, never Sum.
        assert_eq!(config["MetricAggregationType"], "Maximum", "{policy}");
        assert_eq!(config["Cooldown"], cooldown, "{policy}");
    }

    let alarms = moto
        .call(
            JsonService::CloudWatch,
            "DescribeAlarms",
            json!({"AlarmNames": SCALING_ALARMS.map(|name| format!("{prefix}-{name}"))}),
        )
        .await?;
    let alarm = |name: &str| -> Result<&Value> {
        let full = format!("{prefix}-processor-{name}");
        alarms["MetricAlarms"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["AlarmName"] == full.as_str())
            .with_context(|| format!("no alarm {full}: {alarms}"))
    };
    let (waiting, empty) = (alarm("scale-out")?, alarm("scale-in")?);
    for (alarm, policy, minutes) in [(waiting, out, 1), (empty, scale_in, 10)] {
        // The metric the API publishes, as the monitoring module names it.
        assert_eq!(alarm["Namespace"], cloudwatch::NAMESPACE, "{alarm}");
        assert_eq!(alarm["MetricName"], cloudwatch::QUEUE_DEPTH, "{alarm}");
        assert_eq!(
            alarm["Dimensions"],
            json!([{"Name": cloudwatch::STACK_DIMENSION, "Value": prefix}]),
            "{alarm}"
        );
        assert_eq!(alarm["Statistic"], "Maximum", "{alarm}");
        assert_eq!(alarm["Period"], 60, "{alarm}");
        assert_eq!(alarm["EvaluationPeriods"], minutes, "{alarm}");
        // No data (no API task publishing) scales neither way.
        assert_eq!(alarm["TreatMissingData"], "notBreaching", "{alarm}");
        // It scales; it pages no one.
        assert_eq!(
            alarm["AlarmActions"],
            json!([policy["PolicyARN"]]),
            "{alarm}"
        );
        assert_eq!(alarm["OKActions"], json!([]), "{alarm}");
    }

    // What each alarm makes its policy do for a queue depth, as Application Auto Scaling
    // evaluates it: no jobs waiting adds nothing, any waiting adds more for a deeper queue,
    // and an idle queue removes one task.
    let added: Vec<(u32, Option<i64>)> = [0, 1, 4, 5, 19, 20, 240]
        .into_iter()
        .map(|depth| Ok((depth, adjustment(waiting, out, f64::from(depth))?)))
        .collect::<Result<_>>()?;
    assert_eq!(
        added,
        [
            (0, None),
            (1, Some(1)),
            (4, Some(1)),
            (5, Some(2)),
            (19, Some(2)),
            (20, Some(4)),
            (240, Some(4))
        ]
    );
    assert_eq!(adjustment(empty, scale_in, 0.0)?, Some(-1));
    assert_eq!(adjustment(empty, scale_in, 1.0)?, None);
    Ok(())
}

/// The adjustment `policy` makes when its `alarm` sees `depth` (None: the alarm does not
/// fire). Step bounds are relative to the alarm's threshold; a missing bound is infinite.
fn adjustment(alarm: &Value, policy: &Value, depth: f64) -> Result<Option<i64>> {
    let threshold = alarm["Threshold"].as_f64().context("Threshold")?;
    let fires = match alarm["ComparisonOperator"].as_str() {
        Some("GreaterThanOrEqualToThreshold") => depth >= threshold,
        Some("LessThanThreshold") => depth < threshold,
        other => anyhow::bail!("unexpected comparison {other:?}: {alarm}"),
    };
    if !fires {
        return Ok(None);
    }
    let breach = depth - threshold;
    let steps = policy["StepScalingPolicyConfiguration"]["StepAdjustments"]
        .as_array()
        .context("StepAdjustments")?;
    let matching: Vec<i64> = steps
        .iter()
        .filter(|step| {
            let lower = step["MetricIntervalLowerBound"].as_f64();
            let upper = step["MetricIntervalUpperBound"].as_f64();
            // Above the threshold a step holds [lower, upper), below it (lower, upper].
            if breach >= 0.0 {
                lower.is_none_or(|l| breach >= l) && upper.is_none_or(|u| breach < u)
            } else {
                lower.is_none_or(|l| breach > l) && upper.is_none_or(|u| breach <= u)
            }
        })
        .filter_map(|step| step["ScalingAdjustment"].as_i64())
        .collect();
    ensure!(
        matching.len() == 1,
        "exactly one step must hold a breach of {breach}: {steps:?}"
    );
    Ok(matching.first().copied())
}

/// The processor's SHUTDOWN_GRACE_SECS ends well before ECS's SIGKILL (stopTimeout), leaving
/// time to release what still runs. Returns the stopTimeout.
fn check_shutdown_grace(resources: &[Resource]) -> Result<u64> {
    let processor = container(resources, "processor")?;
    let stop_timeout = processor["stopTimeout"].as_u64().context("stopTimeout")?;
    let grace: u64 = processor["environment"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "SHUTDOWN_GRACE_SECS")
        .and_then(|e| e["value"].as_str())
        .context("SHUTDOWN_GRACE_SECS in the processor's task")?
        .parse()?;
    ensure!(stop_timeout <= 120, "Fargate's ceiling: {stop_timeout}");
    ensure!(
        grace >= 60 && grace + 15 <= stop_timeout,
        "a grace of {grace} s for a stopTimeout of {stop_timeout} s"
    );
    Ok(stop_timeout)
}

/// The service's task count belongs to autoscaling: set as autoscaling would, an apply that
/// changes the bounds to `(min, max)` would change the bounds and leave the count.
pub async fn check_apply_keeps_task_count(
    moto: &Moto,
    aws: &mut Terraform,
    prefix: &str,
    (min, max): (u64, u64),
) -> Result<()> {
    let scaled = 3;
    moto.call(
        JsonService::Ecs,
        "UpdateService",
        json!({"cluster": prefix, "service": "processor", "desiredCount": scaled}),
    )
    .await?;
    aws.set_var("processor_min_count", &min.to_string());
    aws.set_var("processor_max_count", &max.to_string());
    let (service, target) = (
        "module.services.aws_ecs_service.processor",
        "module.services.aws_appautoscaling_target.processor",
    );
    let plan = aws.plan_only(&[service, target]).await?;
    let change = |address: &str| -> Result<&Value> {
        plan["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["address"] == address)
            .map(|c| &c["change"])
            .with_context(|| format!("no planned change of {address}"))
    };
    let service = change(service)?;
    assert_eq!(
        (
            &service["before"]["desired_count"],
            &service["after"]["desired_count"]
        ),
        (&json!(scaled), &json!(scaled)),
        "an apply would reset autoscaling's count: {service}"
    );
    let target = change(target)?;
    assert_eq!(target["actions"], json!(["update"]), "{target}");
    assert_eq!(
        (
            &target["after"]["min_capacity"],
            &target["after"]["max_capacity"]
        ),
        (&json!(min), &json!(max)),
        "{target}"
    );
    Ok(())
}

/// The one scalable target of the emulator's ECS services.
async fn scalable_target(moto: &Moto) -> Result<Value> {
    let targets = moto
        .call(
            JsonService::ApplicationAutoScaling,
            "DescribeScalableTargets",
            json!({"ServiceNamespace": "ecs"}),
        )
        .await?;
    let [target] = targets["ScalableTargets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        anyhow::bail!("one scalable target expected: {targets}");
    };
    Ok(target.clone())
}

/// The bounds applied (0 is allowed), and those of the planned second apply.
pub const FIRST_BOUNDS: (u64, u64) = (0, 4);
pub const SECOND_BOUNDS: (u64, u64) = (1, 6);
