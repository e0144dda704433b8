"""Dashboards: KPIs over a node subtree and a time window, the drill-down API and Grafana provisioning."""
