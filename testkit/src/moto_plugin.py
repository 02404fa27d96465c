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
