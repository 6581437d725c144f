"""The official Python `kubernetes` client against a real `berth server`.

BERTH_KUBECONFIG points at the admin kubeconfig of a running server (the Rust test
`python_client` starts one and runs this file with pytest).
"""

import os
import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


@pytest.fixture(scope="module")
def api():
    config.load_kube_config(config_file=os.environ["BERTH_KUBECONFIG"])
    return client.ApiClient()


@pytest.fixture(scope="module")
def ns(api):
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py")))
    yield "py"


def test_version(api):
    v = client.VersionApi(api).get_code()
    assert v.major == "1" and v.minor == "33"


def test_configmap_crud(api, ns):
    core = client.CoreV1Api(api)
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1", labels={"app": "x"}), data={"a": "1"})
    created = core.create_namespaced_config_map(ns, cm)
    assert created.metadata.uid and created.metadata.resource_version
    got = core.read_namespaced_config_map("c1", ns)
    assert got.data == {"a": "1"}
    patched = core.patch_namespaced_config_map("c1", ns, {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    items = core.list_namespaced_config_map(ns, label_selector="app=x").items
    assert [i.metadata.name for i in items] == ["c1"]
    assert core.list_namespaced_config_map(ns, label_selector="app=y").items == []
    fresh = core.read_namespaced_config_map("c1", ns)
    fresh.data["a"] = "changed"
    replaced = core.replace_namespaced_config_map("c1", ns, fresh)
    assert replaced.data["a"] == "changed"
    core.delete_namespaced_config_map("c1", ns)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("c1", ns)
    assert e.value.status == 404


def test_errors_carry_status_codes(api, ns):
    core = client.CoreV1Api(api)
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dup"))
    core.create_namespaced_config_map(ns, cm)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, cm)
    assert e.value.status == 409
    bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, bad)
    assert e.value.status == 422
    stale = core.read_namespaced_config_map("dup", ns)
    core.patch_namespaced_config_map("dup", ns, {"data": {"x": "1"}})
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("dup", ns, stale)
    assert e.value.status == 409


def test_deployment_and_scale(api, ns):
    apps = client.AppsV1Api(api)
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="busybox")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment(ns, dep)
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.template.spec.containers[0].image_pull_policy == "Always"
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}})
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert scale.spec.replicas == 4
    assert scale.status.selector == "app=web"
    assert apps.read_namespaced_deployment("web", ns).metadata.generation == 2


def test_list_paging(api, ns):
    core = client.CoreV1Api(api)
    for i in range(7):
        core.create_namespaced_secret(ns, client.V1Secret(metadata=client.V1ObjectMeta(name=f"s{i}"), string_data={"k": "v"}))
    names, token = [], None
    while True:
        page = core.list_namespaced_secret(ns, limit=3, _continue=token)
        names += [s.metadata.name for s in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"s{i}" for i in range(7)]
    assert core.read_namespaced_secret("s0", ns).data == {"k": "dg=="}


def test_watch(api, ns):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    events = []

    def writer():
        time.sleep(0.2)
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1")))
        core.patch_namespaced_config_map("w1", ns, {"data": {"a": "b"}})
        core.delete_namespaced_config_map("w1", ns)

    t = threading.Thread(target=writer)
    t.start()
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=20):
        if ev["object"].metadata.name == "w1":
            events.append(ev["type"])
        if len(events) == 3:
            w.stop()
    t.join()
    assert events == ["ADDED", "MODIFIED", "DELETED"]
