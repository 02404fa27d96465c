# ECR calls moto 5.2.5 lacks, added to its ECR responses the way moto implements the
# others (state on the account's and region's backend, answers shaped by the service
# model): CreatePullThroughCacheRule and DescribePullThroughCacheRules.
from moto.core.responses import ActionResult
from moto.ecr.responses import ECRResponse


def _rules(backend):
    if not hasattr(backend, "pull_through_cache_rules"):
        backend.pull_through_cache_rules = []
    return backend.pull_through_cache_rules


def create_pull_through_cache_rule(self):
    rule = {
        "ecrRepositoryPrefix": self._get_param("ecrRepositoryPrefix"),
        "upstreamRegistryUrl": self._get_param("upstreamRegistryUrl"),
        "registryId": self.current_account,
    }
    _rules(self.ecr_backend).append(rule)
    return ActionResult(rule)


def describe_pull_through_cache_rules(self):
    return ActionResult(
        {"pullThroughCacheRules": list(_rules(self.ecr_backend))}
    )


ECRResponse.create_pull_through_cache_rule = create_pull_through_cache_rule
ECRResponse.describe_pull_through_cache_rules = describe_pull_through_cache_rules


# ListPullTimeUpdateExclusions and RegisterPullTimeUpdateExclusion: the principals
# whose pulls do not update lastRecordedPullTime, per account and region.
def _exclusions(backend):
    if not hasattr(backend, "pull_time_update_exclusions"):
        backend.pull_time_update_exclusions = []
    return backend.pull_time_update_exclusions


def register_pull_time_update_exclusion(self):
    arn = self._get_param("principalArn")
    exclusions = _exclusions(self.ecr_backend)
    if arn not in exclusions:
        exclusions.append(arn)
    return ActionResult({"principalArn": arn})


def list_pull_time_update_exclusions(self):
    return ActionResult(
        {"pullTimeUpdateExclusions": list(_exclusions(self.ecr_backend))}
    )


ECRResponse.register_pull_time_update_exclusion = register_pull_time_update_exclusion
ECRResponse.list_pull_time_update_exclusions = list_pull_time_update_exclusions
