"""The generated override file that points a Terraform folder's aws provider at the current cloud.

In each stack, ``course_target_override.tf.json``: for the emulator target,
dummy keys and every provider endpoint pointed at the emulator, so lessons
never hard-code endpoints and no request leaves the machine. For the aws
target the file is removed and the provider works as usual.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..runtime import aws, cloud, emulator
from .certificate import issue as issue_certificate

OVERRIDE_FILE = "course_target_override.tf.json"

# Every endpoint key of the AWS provider 3.39 (tests/tf/test_terraform.py checks
# this list against the provider's own schema). All of them point at the
# emulator, so even a service the course does not use cannot reach AWS.
# In provider 3.x ELBv2 (the ALB) uses the "elb" key; there is no "elbv2".
ENDPOINT_KEYS = (
    "accessanalyzer acm acmpca amplify apigateway appconfig applicationautoscaling "
    "applicationinsights appmesh appstream appsync athena auditmanager autoscaling "
    "autoscalingplans backup batch budgets cloud9 cloudformation cloudfront cloudhsm "
    "cloudsearch cloudtrail cloudwatch cloudwatchevents cloudwatchlogs codeartifact "
    "codebuild codecommit codedeploy codepipeline codestarconnections cognitoidentity "
    "cognitoidp configservice connect cur dataexchange datapipeline datasync dax "
    "detective devicefarm directconnect dlm dms docdb ds dynamodb ec2 ecr ecrpublic ecs "
    "efs eks elasticache elasticbeanstalk elastictranscoder elb emr emrcontainers es "
    "firehose fms forecast fsx gamelift glacier globalaccelerator glue greengrass "
    "guardduty iam identitystore imagebuilder inspector iot iotanalytics iotevents kafka "
    "kinesis kinesisanalytics kinesisanalyticsv2 kinesisvideo kms lakeformation lambda "
    "lexmodels licensemanager lightsail macie macie2 managedblockchain marketplacecatalog "
    "mediaconnect mediaconvert medialive mediapackage mediastore mediastoredata mq mwaa "
    "neptune networkfirewall networkmanager opsworks organizations outposts personalize "
    "pinpoint pricing qldb quicksight ram rds redshift resourcegroups "
    "resourcegroupstaggingapi route53 route53domains route53resolver s3 s3control "
    "s3outposts sagemaker sdb secretsmanager securityhub serverlessrepo servicecatalog "
    "servicediscovery servicequotas ses shield signer sns sqs ssm ssoadmin stepfunctions "
    "storagegateway sts swf synthetics timestreamwrite transfer waf wafregional wafv2 "
    "worklink workmail workspaces xray"
).split()


DECLARES_CERTIFICATE = re.compile(r'^\s*variable\s+"certificate_source"', re.M)


def target_override(folder: Path | None = None) -> dict | None:
    """The override for the current target (None: no override).

    The provider block points at the emulator. If the configuration in
    ``folder`` declares ``certificate_source`` (the course's), the emulator
    also gets a generated certificate (signed by the course's CA, helpers/tf/certificate.py) to
    import instead of asking ACM for one, which needs a domain you own.
    """
    if not cloud.is_emulator():
        return None
    url = aws.endpoint_url()
    key, secret = emulator.credentials()  # a room's learner: their own credential, hence their own account
    override = {
        "provider": {
            "aws": {
                "access_key": key,
                "secret_key": secret,
                "skip_credentials_validation": True,
                "skip_metadata_api_check": True,
                "skip_get_ec2_platforms": True,
                "s3_force_path_style": True,
                "endpoints": {key: url for key in ENDPOINT_KEYS},
            }
        }
    }
    if folder is not None and _declares_certificate(Path(folder)):
        certificate, key = issue_certificate()
        override["variable"] = {
            "certificate_source": {"default": "import"},
            "certificate_file": {"default": str(certificate)},
            "private_key_file": {"default": str(key)},
        }
    return override


def _declares_certificate(folder: Path) -> bool:
    return any(DECLARES_CERTIFICATE.search(path.read_text(errors="replace")) for path in folder.glob("*.tf"))


def write_target_override(folder: Path) -> None:
    override = target_override(folder)
    path = Path(folder) / OVERRIDE_FILE
    if override is None:
        path.unlink(missing_ok=True)
        return
    text = json.dumps(override, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
