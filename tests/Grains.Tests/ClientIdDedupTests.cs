using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

[TestCategory("BVT")]
public sealed class ClientIdHashSetTests
{
    [Fact]
    public void Holds_every_added_hash_across_growth_and_no_other()
    {
        var stored = Enumerable.Range(0, 30_000).Select(i => $"stored-{i}").ToArray();
        var set = new ClientIdHashSet(stored.Take(10_000).Select(Storage.ClientIdHash.Of).ToArray());
        foreach (var id in stored.Skip(10_000))
        {
            set.Add(Storage.ClientIdHash.Of(id)); // past the first table's 3/4 load: grows and rehashes
        }

        set.Add(Storage.ClientIdHash.Of(stored[5])); // a hash already held is not counted twice
        var wronglyHeld = Enumerable.Range(0, 1_000_000).Count(i => set.Contains(Storage.ClientIdHash.Of($"new-{i}")));

        Assert.All(stored, id => Assert.True(set.Contains(Storage.ClientIdHash.Of(id)), id));
        Assert.Equal(30_000, set.Count);
        Assert.Equal(0, wronglyHeld);
        Assert.InRange(set.SizeInBytes, 30_000 * 8 * 4 / 3, 30_000 * 8 * 8 / 3);
    }

    [Fact]
    public void A_table_given_back_to_the_pool_on_growth_holds_nothing_for_the_next_set()
    {
        // 20,000 keys grow the first set through 16K-, 32K- and 64K-slot tables, the smaller ones returned to the shared pool;
        // the second set then grows through tables of the same sizes, which it may rent.
        var first = new ClientIdHashSet([]);
        foreach (var i in Enumerable.Range(0, 20_000))
        {
            first.Add(Storage.ClientIdHash.Of($"first-{i}"));
        }

        var second = new ClientIdHashSet([]);
        foreach (var i in Enumerable.Range(0, 20_000))
        {
            second.Add(Storage.ClientIdHash.Of($"second-{i}"));
        }

        Assert.Equal(0, Enumerable.Range(0, 20_000).Count(i => second.Contains(Storage.ClientIdHash.Of($"first-{i}"))));
        Assert.All(Enumerable.Range(0, 20_000), i => Assert.True(first.Contains(Storage.ClientIdHash.Of($"first-{i}"))));
        Assert.Equal(20_000, second.Count);
    }

    [Fact]
    public void The_hash_zero_is_held_like_any_other()
    {
        var set = new ClientIdHashSet([]);
        Assert.False(set.Contains(0));
        set.Add(0);
        Assert.True(set.Contains(0));
        Assert.Equal(1, set.Count);
    }
}

[TestCategory("BVT")]
public sealed class ClientIdHashTests
{
    [Theory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("3f9a1c0b7e2d-12345")]
    [InlineData("sessão-ü-ÿ")] // code units up to 0xFF
    [InlineData("Ā-日本語-🙂")] // from 0x100, and a surrogate pair
    public void Is_FNV1a_over_the_ids_UTF16_code_units_as_stored_beside_the_events(string id)
    {
        // The definition the stores' id_hashes columns were written with: every UTF-16 code unit, low byte first.
        var reference = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.Unicode.GetBytes(id))
        {
            reference = unchecked((reference ^ b) * 1099511628211UL);
        }

        Assert.Equal(reference, Storage.ClientIdHash.Of(id));
    }
}

[TestCategory("BVT")]
public sealed class RecentIdsTests
{
    [Fact]
    public void Keeps_the_newest_ids_up_to_its_capacity()
    {
        var recent = new RecentIds(4);
        foreach (var i in Enumerable.Range(0, 10))
        {
            recent.Add($"id-{i}");
        }

        Assert.True(recent.HasEvicted);
        Assert.Equal(4, recent.Count);
        Assert.All(Enumerable.Range(6, 4), i => Assert.True(recent.Contains($"id-{i}"), $"id-{i}"));
        Assert.All(Enumerable.Range(0, 6), i => Assert.False(recent.Contains($"id-{i}"), $"id-{i}"));
    }

    [Fact]
    public void Ids_sharing_a_key_are_told_apart_by_the_id_itself()
    {
        var recent = new RecentIds(8);
        recent.Add("a", 7);
        recent.Add("b", 7);

        Assert.True(recent.Contains("a", 7));
        Assert.True(recent.Contains("b", 7));
        Assert.False(recent.Contains("c", 7));
        Assert.False(recent.Contains("a", 8));
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef-1", "0123456789abcdef0123456789abcdef-2")] // longer than a slot
    [InlineData("sessão-ü-1", "sessão-ü-2")] // multi-byte UTF-8
    public void Ids_of_any_length_and_text_are_told_apart_exactly(string id, string other)
    {
        var recent = new RecentIds(4);
        recent.Add(id, 7);
        recent.Add("x", 7);

        Assert.True(recent.Contains(id, 7));
        Assert.False(recent.Contains(other, 7));
        Assert.False(recent.Contains(id[..^1], 7));
        foreach (var i in Enumerable.Range(0, 4))
        {
            recent.Add($"n-{i}", 7); // the long id's slot is reused by a short one
        }

        Assert.False(recent.Contains(id, 7));
        Assert.True(recent.Contains("n-0", 7));
    }

    [Fact]
    public void Ids_with_lone_surrogates_are_held_as_strings_and_told_apart()
    {
        var (id, other) = ("a" + (char)0xD800, "a" + (char)0xDC00); // not valid UTF-16, so not encodable as UTF-8
        var recent = new RecentIds(4);
        recent.Add(id, 7);

        Assert.True(recent.Contains(id, 7));
        Assert.False(recent.Contains(other, 7));
        Assert.False(recent.Contains("a\uFFFD", 7));
    }

    [Fact]
    public void A_removed_id_is_forgotten_and_not_copied_until_added_again()
    {
        var recent = new RecentIds(100);
        recent.AddRange(["x", "y", "z"]);
        recent.Remove("y");
        var set = new ClientIdHashSet([]);
        recent.CopyTo(set);

        Assert.False(recent.Contains("y"));
        Assert.False(recent.HasEvicted);
        Assert.Equal(2, set.Count);
        Assert.False(set.Contains(ClientIdHashSet.KeyOf("y")));

        recent.Add("y");
        Assert.True(recent.Contains("y"));
    }
}
