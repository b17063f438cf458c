"""moto's server, plus what moto (5.2) lacks for the AWS root: the tags of Application Auto
Scaling resources. The AWS provider tags a scalable target when it registers it (the root's
default tags) and reads the tags back with ListTagsForResource, which moto does not implement
(the provider would retry it until its timeout). Run as `python server.py -H HOST -p PORT`,
with moto.server's arguments."""

import json

from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.server import main

# Tags by resource ARN; one server serves one test run.
TAGS: dict[str, dict[str, str]] = {}

register_scalable_target = ApplicationAutoScalingResponse.register_scalable_target


def register_and_tag(self):
    answer = register_scalable_target(self)
    arn = json.loads(answer)["ScalableTargetARN"]
    TAGS.setdefault(arn, {}).update(self._get_param("Tags") or {})
    return answer


def list_tags_for_resource(self):
    return json.dumps({"Tags": TAGS.get(self._get_param("ResourceARN"), {})})


def tag_resource(self):
    TAGS.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
    return "{}"


def untag_resource(self):
    tags = TAGS.get(self._get_param("ResourceARN"), {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return "{}"


ApplicationAutoScalingResponse.register_scalable_target = register_and_tag
ApplicationAutoScalingResponse.list_tags_for_resource = list_tags_for_resource
ApplicationAutoScalingResponse.tag_resource = tag_resource
ApplicationAutoScalingResponse.untag_resource = untag_resource

if __name__ == "__main__":
    main()
