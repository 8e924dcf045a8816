"""The Powertools Logger and Metrics every function shares (service and namespace from the env).

Tracing is the Lambda runtime's own: template.yaml's `Tracing: Active` has Lambda record every
sampled invocation (initialization, invocation, overhead) in X-Ray, and botocore passes the trace
header on to the AWS services a function calls. No function loads the X-Ray SDK (Powertools
Tracer): at cold start it costs a fifth to a half of a DynamoDB client's own start-up, patched or
not (docs/performance.md has the measurement and the decision).
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
