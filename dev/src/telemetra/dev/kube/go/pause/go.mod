module telemetra.local/localstack/pause

go 1.25.0
