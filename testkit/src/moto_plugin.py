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


# Tag immutability as ECR documents it. moto 5.2.5 answers a push of an immutable tag
# that is on another image with ImageAlreadyExistsException (ECR's answer when the tag
# is already on *this* image) instead of ImageTagAlreadyExistsException, and reads
# exclusion filters as regular expressions matched at the start of the tag
# (`dev-*` would take `devx`) instead of wildcards over the whole tag.
import fnmatch

from moto.core.exceptions import ServiceException
from moto.ecr.models import ECRBackend, RepoTagMutability


class ImageTagAlreadyExistsException(ServiceException):
    code = "ImageTagAlreadyExistsException"


def _excluded(repository, tag):
    filters = repository.image_tag_mutability_exclusion_filters or []
    # fnmatchcase: `*` any run of characters, over the whole tag; ECR's filters
    # hold only [0-9a-zA-Z._*-], so fnmatch's other wildcards cannot occur.
    return any(fnmatch.fnmatchcase(tag, f["filter"]) for f in filters)


def _immutable(repository, tag):
    setting = repository.image_tag_mutability
    if setting == RepoTagMutability.IMMUTABLE:
        return True
    if setting == RepoTagMutability.IMMUTABLE_WITH_EXCLUSION:
        return not _excluded(repository, tag)
    if setting == RepoTagMutability.MUTABLE_WITH_EXCLUSION:
        return _excluded(repository, tag)
    return False


def _resolve_image_tag_mutability(self, repository, proposed_image_tag):
    existing = [i for i in repository.images if proposed_image_tag in i.image_tags]
    # The push is refused when the tag is on another image; the same manifest again
    # with its own tag is ECR's ImageAlreadyExistsException, which put_image raises.
    if existing and _immutable(repository, proposed_image_tag):
        manifest = self._immutable_push_manifest
        if any(i.image_manifest != manifest for i in existing):
            raise ImageTagAlreadyExistsException(
                f"The image tag '{proposed_image_tag}' already exists in the "
                f"'{repository.name}' repository and cannot be overwritten because "
                f"the tag is immutable."
            )
    return existing


_put_image = ECRBackend.put_image


def put_image(self, repository_name, image_manifest, image_tag, *args, **kwargs):
    self._immutable_push_manifest = image_manifest
    return _put_image(self, repository_name, image_manifest, image_tag, *args, **kwargs)


ECRBackend._resolve_image_tag_mutability = _resolve_image_tag_mutability
ECRBackend.put_image = put_image


# AssumeRole of a role whose trust policy does not name the caller. moto assumes any
# role, existing or not (its multi-account mode: the credentials it gives act in the
# account of the role's ARN). STS answers AccessDenied when the trust policy does
# not let the caller in; a role named `untrusted…` stands for such a role here, so
# that a test can show a role that cannot be assumed.
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse


class AccessDenied(STSClientError):
    def __init__(self, message):
        super().__init__("AccessDenied", message)


_assume_role = TokenResponse.assume_role


def assume_role(self):
    arn = self._get_param("RoleArn") or ""
    if arn.rsplit("/", 1)[-1].startswith("untrusted"):
        raise AccessDenied(
            f"User: arn:aws:iam::{self.current_account}:user/testing is not authorized "
            f"to perform: sts:AssumeRole on resource: {arn}"
        )
    return _assume_role(self)


TokenResponse.assume_role = assume_role
