output "address" {
  value = aws_db_instance.main.address
}

output "port" {
  value = aws_db_instance.main.port
}

output "url" {
  description = "DATABASE_URL, TLS required."
  value       = "postgres://${aws_db_instance.main.username}:${urlencode(var.password)}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${aws_db_instance.main.db_name}?sslmode=require"
  sensitive   = true
}

output "security_group_id" {
  description = "The database's security group (the services' Postgres egress points here)."
  value       = aws_security_group.db.id
}
