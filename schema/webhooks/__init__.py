"""Partner webhooks in the GraphQL API: subscriptions and their deliveries."""
