"""Events: the governance loop — intake, dispatch, deadlines and escalation, evidence, ratings, KPIs."""
