"""Exec through the official Python client's WebSocket stream (v4.channel.k8s.io), against a
pod named by argv[1] in the cluster of $KUBECONFIG. Prints what the command wrote and the
exit code, one per line."""
import sys

from kubernetes import client, config
from kubernetes.stream import stream

config.load_kube_config()
api = client.CoreV1Api()
resp = stream(
    api.connect_get_namespaced_pod_exec,
    sys.argv[1],
    "default",
    command=["sh", "-c", "echo from-python; exit 3"],
    stderr=True,
    stdin=False,
    stdout=True,
    tty=False,
    _preload_content=False,
)
resp.run_forever(timeout=30)
print(resp.read_stdout().strip())
print(resp.returncode)
