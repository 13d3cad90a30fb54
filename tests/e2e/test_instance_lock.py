"""One worker per instance: a second `botrunner worker --instance ID` for an instance that
runs, by the supervisor or by hand, is refused at once, naming the instance and the PID that
runs it, and the running one is untouched. Two workers of one account would sync it twice
and answer every command twice."""
import subprocess

from botworker import BOTRUNNER, start_in_room
from conftest import unique
from fleet import Fleet, ping
from test_worker import ping_pong

# The refused worker stops before it touches the network: a few seconds even under load.
REFUSED_WITHIN_S = 30


def second_worker(config_path, instance_id, env):
    """Run `botrunner worker --instance ID -c FILE` to its end: (exit code, output)."""
    proc = subprocess.run([BOTRUNNER, "worker", "--instance", instance_id, "-c", str(config_path)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace", env=env, timeout=REFUSED_WITHIN_S)
    return proc.returncode, proc.stdout + proc.stderr


def test_second_worker_beside_the_supervisors_is_refused(synapse, make_person, tmp_path):
    alice = make_person(synapse)
    room = alice.create_room(name="lock")
    fleet = Fleet(synapse, tmp_path / "fleet", unique, count=1, rooms=[room])
    try:
        fleet.start()
        fleet.join(alice)
        e1 = fleet.instances["echo-1"]
        ping(alice, room, e1, guard=fleet.assert_running)
        running = fleet.workers()[e1.id]

        code, out = second_worker(fleet.config_path, e1.id, fleet.env())
        assert code == 1, out
        assert (f"Instance echo-1 is already running: worker PID {running.pid} holds "
                f"{fleet.state_dir}/run/echo-1.lock; not starting a second one") in out, out
        ping(alice, room, e1, guard=fleet.assert_running)
        assert fleet.workers()[e1.id].key == running.key
    finally:
        fleet.cleanup()


def test_second_worker_beside_one_run_by_hand_is_refused(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot)
    ping_pong(alice, room, bot)
    env = {"CREDENTIALS_DIRECTORY": str(bot.creds_dir), "PATH": "/usr/bin:/bin"}
    code, out = second_worker(bot.config_path, bot.instance_id, env)
    assert code == 1, out
    assert f"Instance {bot.instance_id} is already running: worker PID {bot.pid} holds" in out, out
    ping_pong(alice, room, bot)
    bot.assert_running()
