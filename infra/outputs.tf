output "function_urls" {
  description = "URL of every function (the audience of the ID tokens sent to it)."
  value       = { for name, f in google_cloudfunctions2_function.function : name => f.url }
}

output "function_service_uris" {
  description = "run.app URI of the Cloud Run service behind each function."
  value       = { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].uri }
}

output "public_functions" {
  description = "Functions anyone may invoke (guarded by a signature)."
  value       = [for name, f in local.functions : name if f.public]
}

output "function_service_accounts" {
  description = "Service account of every function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "tasks_invoker_email" {
  value = google_service_account.tasks_invoker.email
}

output "ops_service_account" {
  value = google_service_account.ops.email
}

output "topics" {
  value = { for name, t in google_pubsub_topic.topic : name => t.id }
}

output "queues" {
  value = { for name, q in google_cloud_tasks_queue.queue : name => q.id }
}

output "region" {
  value = var.region
}

output "console_url" {
  description = "Where people open the console (through Identity-Aware Proxy)."
  value       = "https://${var.console_domain}"
}

output "console_ip" {
  description = "Address of the console's load balancer: point var.console_domain's A record here."
  value       = google_compute_global_address.console.address
}
