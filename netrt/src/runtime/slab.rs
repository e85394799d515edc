//! A minimal slab: stable `usize` keys, O(1) insert and remove, slots
//! reused through a free list. Core-local bookkeeping only.

enum Entry<T> {
    Occupied(T),
    Vacant { next_free: usize },
}

/// Stores values under small, reusable integer keys.
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Head of the free list; `entries.len()` when no slot is free.
    free: usize,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: 0,
            len: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        let key = self.free;
        if key == self.entries.len() {
            self.entries.push(Entry::Occupied(value));
            self.free = self.entries.len();
        } else {
            match std::mem::replace(&mut self.entries[key], Entry::Occupied(value)) {
                Entry::Vacant { next_free } => self.free = next_free,
                // The free list only ever links vacant entries.
                Entry::Occupied(_) => unreachable!("slab free list points at an occupied slot"),
            }
        }
        self.len += 1;
        key
    }

    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        match self.entries.get(key) {
            Some(Entry::Occupied(v)) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let entry = self.entries.get_mut(key)?;
        if matches!(entry, Entry::Vacant { .. }) {
            return None;
        }
        let old = std::mem::replace(
            entry,
            Entry::Vacant {
                next_free: self.free,
            },
        );
        self.free = key;
        self.len -= 1;
        match old {
            Entry::Occupied(v) => Some(v),
            Entry::Vacant { .. } => None,
        }
    }

    /// Removes and returns every value.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.free = 0;
        self.len = 0;
        self.entries.drain(..).filter_map(|e| match e {
            Entry::Occupied(v) => Some(v),
            Entry::Vacant { .. } => None,
        })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(k, e)| match e {
                Entry::Occupied(v) => Some((k, v)),
                Entry::Vacant { .. } => None,
            })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Slab;

    #[test]
    fn keys_are_reused_and_values_kept() {
        let mut s = Slab::new();
        let a = s.insert("a");
        let b = s.insert("b");
        let c = s.insert("c");
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(s.remove(b), Some("b"));
        assert_eq!(s.remove(b), None);
        assert_eq!(s.get(b), None);
        assert_eq!(s.len(), 2);
        assert_eq!(s.insert("d"), 1, "freed slot reused");
        assert_eq!(s.get(1), Some(&"d"));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(c), Some("c"));
        assert_eq!(s.insert("e"), 2, "LIFO free list");
        assert_eq!(s.insert("f"), 0);
        assert_eq!(s.insert("g"), 3);
        let mut all: Vec<_> = s.iter().map(|(_, v)| *v).collect();
        all.sort();
        assert_eq!(all, ["d", "e", "f", "g"]);
        assert_eq!(s.drain().count(), 4);
        assert_eq!(s.len(), 0);
        assert_eq!(s.insert("h"), 0);
    }
}
