from gateway import lottery
from gateway.rooms import RoomConfig
from gateway.store import Code, Store


async def test_join_then_status(store: Store) -> None:
    await store.define_room(RoomConfig(name="default"), lottery.new_seed())
    snap, place = await store.join("default", "visitor-aaaaaaaa")
    assert place.code == Code.ADMITTED  # idle room: passes at once
    snap, place = await store.join("default", "visitor-bbbbbbbb", may_pass=False)
    assert place.code == Code.QUEUED and place.position == 1
    snap, place = await store.status("default", "visitor-bbbbbbbb")
    assert place.code == Code.QUEUED and place.position == 1
    assert snap.queue_len == 1
