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


# The archive storage class as the API reference documents it. UpdateImageStorageClass
# moves one image to ARCHIVE (status ARCHIVED, lastArchivedAt) or back to STANDARD
# (ACTIVATING, lastActivatedAt; ECR then makes it ACTIVE within about 20 minutes,
# which this model does not: it stays ACTIVATING). Asking for the class an image is
# in, or moving to, answers its status and changes nothing; archiving an image being
# reactivated is ImageStorageClassUpdateNotSupportedException. DescribeImages and
# ListImages take `filter.imageStatus`: ACTIVE when not given (archived images are
# then left out), ARCHIVED, ACTIVATING or ANY; a lookup by imageIds is filtered too.
import time

from moto.ecr.exceptions import ImageNotFoundException
from moto.ecr.models import Image


class ImageStorageClassUpdateNotSupportedException(ServiceException):
    code = "ImageStorageClassUpdateNotSupportedException"


class InvalidParameterException(ServiceException):
    code = "InvalidParameterException"


Image.image_status = "ACTIVE"
Image.last_archived_at = None
Image.last_activated_at = None

_STATUS_FILTERS = ("ACTIVE", "ARCHIVED", "ACTIVATING", "ANY")


def _status_filter(response):
    wanted = (response._get_param("filter", {}) or {}).get("imageStatus", "ACTIVE")
    if wanted not in _STATUS_FILTERS:
        raise InvalidParameterException(
            f"Invalid parameter at 'filter.imageStatus' failed to satisfy constraint: "
            f"'Member must satisfy enum value set: {list(_STATUS_FILTERS)}'"
        )
    return lambda image: wanted == "ANY" or image.image_status == wanted


def describe_images(self):
    keep = _status_filter(self)
    original = self.ecr_backend.describe_images

    def filtered(*args, **kwargs):
        return [i for i in original(*args, **kwargs) if keep(i)]

    self.ecr_backend.describe_images = filtered
    try:
        return _ecr_describe_images(self)
    finally:
        del self.ecr_backend.describe_images


def list_images(self):
    keep = _status_filter(self)
    original = self.ecr_backend.list_images

    def filtered(*args, **kwargs):
        return [i for i in original(*args, **kwargs) if keep(i)]

    self.ecr_backend.list_images = filtered
    try:
        return _ecr_list_images(self)
    finally:
        del self.ecr_backend.list_images


def update_image_storage_class(self):
    repository_name = self._get_param("repositoryName")
    registry_id = self._get_param("registryId")
    image_id = self._get_param("imageId") or {}
    target = self._get_param("targetStorageClass")
    if target not in ("STANDARD", "ARCHIVE"):
        raise InvalidParameterException(
            f"Invalid parameter at 'targetStorageClass' failed to satisfy constraint: "
            f"'Member must satisfy enum value set: [STANDARD, ARCHIVE]'"
        )
    repository = self.ecr_backend._get_repository(repository_name, registry_id)
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    found = [
        i
        for i in repository.images
        if (digest is None or i.image_digest == digest)
        and (tag is None or tag in i.image_tags)
    ]
    if not found or (digest is None and tag is None):
        raise ImageNotFoundException(
            image_id=image_id,
            repository_name=repository_name,
            registry_id=registry_id or self.current_account,
        )
    image = found[0]
    status = image.image_status
    if target == "ARCHIVE" and status == "ACTIVE":
        image.image_status, image.last_archived_at = "ARCHIVED", time.time()
    elif target == "STANDARD" and status == "ARCHIVED":
        image.image_status, image.last_activated_at = "ACTIVATING", time.time()
    elif target == "ARCHIVE" and status == "ACTIVATING":
        raise ImageStorageClassUpdateNotSupportedException(
            f"The image {image.image_digest} is being restored from the archive: "
            f"it cannot be archived until it is ACTIVE"
        )
    return ActionResult(
        {
            "registryId": repository.registry_id,
            "repositoryName": repository_name,
            "imageId": {"imageDigest": image.image_digest, **({"imageTag": tag} if tag else {})},
            "imageStatus": image.image_status,
        }
    )


_ecr_describe_images = ECRResponse.describe_images
_ecr_list_images = ECRResponse.list_images
ECRResponse.describe_images = describe_images
ECRResponse.list_images = list_images
ECRResponse.update_image_storage_class = update_image_storage_class

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


# SeedRepositories: the test kit's own bulk seeding (not an ECR call), for benchmarks
# that need many images. One request creates `repositories` repositories named
# `prefix` + their number in the account of the request's credentials, each with
# `images` images tagged `build-<n>`, straight into the backend: the same state as
# CreateRepository and PutImage calls, without a request per image.
import hashlib as _hashlib
import json as _json


def seed_repositories(self):
    prefix = self._get_param("prefix")
    repositories = int(self._get_param("repositories"))
    images = int(self._get_param("images"))
    backend = self.ecr_backend
    account = self.current_account
    media_type = "application/vnd.oci.image.manifest.v1+json"
    for r in range(repositories):
        name = f"{prefix}{r}"
        backend.create_repository(
            name, None, {"encryptionType": "AES256"}, {"scanOnPush": False}, "MUTABLE", []
        )
        for i in range(images):
            config = _hashlib.sha256(f"{account}-{name}-{i}".encode()).hexdigest()
            manifest = _json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": media_type,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": f"sha256:{config}",
                        "size": 100,
                    },
                    "layers": [],
                }
            )
            digest = "sha256:" + _hashlib.sha256(manifest.encode()).hexdigest()
            backend.put_image(name, manifest, f"build-{i}", media_type, digest)
    # Not in ECR's service model, so answered as plain JSON.
    return _json.dumps({"repositories": repositories, "images": repositories * images})


ECRResponse.seed_repositories = seed_repositories
