output "alarm_names" {
  description = "Alarm names keyed by what they watch (empty when alarms are off)."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.alarm_name }
}

output "dashboard_name" {
  description = "Dashboard name (null when the dashboard is off)."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}

output "alarms" {
  description = "What each alarm watches: namespace, metric, statistic, dimensions and threshold (empty when alarms are off)."
  value = {
    for k, a in aws_cloudwatch_metric_alarm.this : k => {
      namespace  = a.namespace
      metric     = a.metric_name
      statistic  = a.statistic
      dimensions = a.dimensions
      threshold  = a.threshold
      actions    = a.alarm_actions
    }
  }
}
